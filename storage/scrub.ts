// Scrub: re-hashes every stored blob (manifests are stored as blobs too) and reports those whose
// bytes no longer match their digest. With `quarantine`, each such object is moved under
// /quarantine, so it is no longer served (a pull gets 404 and a push of the right bytes stores it
// again). Revision records whose content is missing are reported too.
import { newHash, parseDigest, type Digest } from '../oci/index.js';
import { isNotFound, type StorageDriver } from './driver.js';
import { scanBlobs, scanRepositories } from './garbage-collector.js';
import { layout } from './layout.js';
import { mapLimit } from '../util/limit.js';

export interface ScrubProblem {
  kind: 'mismatch' | 'unreadable' | 'missing-content';
  digest: Digest;
  /** The digest of the stored bytes (mismatch). */
  actual?: Digest;
  /** Repositories whose revision has no content (missing-content). */
  repository?: string;
  size?: number;
  error?: string;
  quarantined?: boolean;
}

export interface ScrubReport {
  checked: number;
  bytes: number;
  problems: ScrubProblem[];
  durationMs: number;
}

export interface ScrubOptions {
  quarantine?: boolean;
  /** Blobs hashed at once (default 2: hashing is CPU and I/O heavy). */
  concurrency?: number;
}

export async function scrub(driver: StorageDriver, opts: ScrubOptions = {}): Promise<ScrubReport> {
  const started = Date.now();
  const blobs = await scanBlobs(driver);
  const problems: ScrubProblem[] = [];
  let bytes = 0;
  const entries = [...blobs].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  await mapLimit(entries, opts.concurrency ?? 2, async ([digest, info]) => {
    const { algorithm } = parseDigest(digest);
    const hash = newHash(algorithm.name);
    try {
      const stream = await driver.reader(info.path);
      for await (const chunk of stream) {
        hash.update(chunk as Buffer);
        bytes += (chunk as Buffer).length;
      }
    } catch (err) {
      if (isNotFound(err)) return; // deleted meanwhile (garbage collection)
      problems.push({ kind: 'unreadable', digest, size: info.size, error: (err as Error).message });
      return;
    }
    const actual = `${algorithm.name}:${hash.digest('hex')}` as Digest;
    if (actual === digest) return;
    const problem: ScrubProblem = { kind: 'mismatch', digest, actual, size: info.size };
    if (opts.quarantine) {
      try {
        await driver.move(info.path, layout.quarantine(digest));
        problem.quarantined = true;
      } catch (err) {
        problem.error = `quarantine failed: ${(err as Error).message}`;
      }
    }
    problems.push(problem);
  });
  const repos = await scanRepositories(driver);
  const present = await scanBlobs(driver);
  for (const repo of [...repos.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    for (const digest of [...repo.revisions.keys()].sort()) {
      if (!present.has(digest)) problems.push({ kind: 'missing-content', digest, repository: repo.name });
    }
  }
  problems.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  return { checked: blobs.size, bytes, problems, durationMs: Date.now() - started };
}

export function formatScrubProblem(p: ScrubProblem): string {
  switch (p.kind) {
    case 'mismatch':
      return `mismatch ${p.digest} (content hashes to ${p.actual})${p.quarantined ? ' quarantined' : ''}${p.error ? ` ${p.error}` : ''}`;
    case 'unreadable':
      return `unreadable ${p.digest}: ${p.error}`;
    case 'missing-content':
      return `missing-content ${p.repository}@${p.digest}`;
  }
}
