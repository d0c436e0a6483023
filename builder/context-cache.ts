// Digests of build-context files by what lstat says about them (BuildKit's approach): a file
// whose inode, size, modification and change times  are what they were when it was
// last hashed is not read again. A rebuild of a large context then costs one lstat per file, not
// one read. Kept per context directory in <root>/builder/context-cache/<sha256 of the dir>.json
// (small, rewritten atomically when something changed; losing it only costs a re-read).
//
// A file changed within the clock's granularity of being hashed could keep its times ("racy"
// entries, as git calls them): such recent files are hashed but not remembered.
import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../engine/atomic-file.js';

/** Files touched this recently (ms) are not remembered: their times may not show the next change. */
const RACY_MS = 1000;

interface CacheFile {
  v: 1;
  /** host path → [stat signature, sha256 hex]. */
  files: Record<string, [string, string]>;
}

/** Plain (not bigint) stats: bigint ones cost a rebuild of a large context more in garbage than they add (times stay sub-microsecond). */
function signature(st: Stats): string {
  return `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

export class ContextDigestCache {
  private changed = false;

  private constructor(
    private readonly file: string | undefined,
    private readonly files: Map<string, [string, string]>,
  ) {}

  /** An empty cache that is never saved (`--no-cache`-like uses and tests). */
  static memory(): ContextDigestCache {
    return new ContextDigestCache(undefined, new Map());
  }

  /** The cache of `contextDir` under the engine root (empty when missing or unreadable). */
  static async open(root: string, contextDir: string): Promise<ContextDigestCache> {
    const file = join(root, 'builder', 'context-cache', `${createHash('sha256').update(contextDir).digest('hex')}.json`);
    let files = new Map<string, [string, string]>();
    try {
      const doc = JSON.parse(await readFile(file, 'utf8')) as CacheFile;
      if (doc.v === 1 && doc.files && typeof doc.files === 'object') files = new Map(Object.entries(doc.files));
    } catch {
      /* none yet, or damaged: start empty */
    }
    return new ContextDigestCache(file, files);
  }

  /** The remembered digest of `host` when its stat is unchanged. */
  lookup(host: string, st: Stats): string | undefined {
    const e = this.files.get(host);
    return e && e[0] === signature(st) ? e[1] : undefined;
  }

  /** Remembers a digest just computed from the file's content (`now`: when it was read, ms). */
  record(host: string, st: Stats, digest: string, now = Date.now()): void {
    if (Math.max(st.mtimeMs, st.ctimeMs) > now - RACY_MS) {
      // Racy: forget any older entry too, so the next build reads the file again.
      if (this.files.delete(host)) this.changed = true;
      return;
    }
    this.files.set(host, [signature(st), digest]);
    this.changed = true;
  }

  async save(): Promise<void> {
    if (!this.file || !this.changed) return;
    await mkdir(join(this.file, '..'), { recursive: true });
    const doc: CacheFile = { v: 1, files: Object.fromEntries(this.files) };
    await writeFileAtomic(this.file, JSON.stringify(doc), { durable: false });
    this.changed = false;
  }
}
