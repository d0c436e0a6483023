// Online garbage collection: mark and sweep over the repository layout (storage/layout.ts) while
// the registry keeps serving pushes and pulls, with no read-only window.
//
// What is live (the mark): from every tag, its manifest; from a manifest, its config and layers;
// from an index, its child manifests (recursively); with keepReferrers, the referrers of every
// live manifest (recursively). Manifest revisions younger than the grace period are roots too, and
// when deleteUntagged is off every revision is. Uploads in progress are never touched: their data
// lives under /uploads until it is committed (the upload purger expires abandoned ones).
//
// What goes (the sweep): in each repository, revisions not marked (only with deleteUntagged) with
// their referrer entries, then layer links not marked; then blob data that no repository links
// and nothing marked references. Nothing whose modification time (the driver's stat().modTime,
// of the link file or of the data) is within the grace period of the run's start is deleted.
//
// Why concurrent pushes are safe:
// 1. A push writes links first: committing an upload, pushing a blob that already exists and
//    mounting all (re)write the repository's layer link, and a manifest push gives the links of
//    every blob and child manifest it references a new time (touched, or rewritten where the
//    driver cannot touch) *before* it checks that they exist (BlobStore.refreshLink,
//    ManifestStore.refreshRevision; a link the sweep already deleted is then missing, and the
//    push is refused as below). So whatever a recent push uses has a young link, which the grace
//    period protects, even when the blob itself is old.
// 2. The sweep is reversible until a final check. Blob data is not deleted but moved to
//    /_gc/trash (a rename on a filesystem), and the link and revision records deleted are kept in
//    memory. After the sweep, the run marks again from a fresh listing (tags, young revisions,
//    every remaining link) and restores whatever that second mark reaches: trashed data, deleted
//    links and revisions. Only then is the trash deleted.
//    The race this closes: blob B (old, unreferenced) → GC marks → a manifest referencing B is
//    pushed during the sweep. The push refreshes B's link (t1) before checking B's data (t2). If
//    its check found the data, the data was moved to the trash after t2, hence after t1, and the
//    second mark (which runs after every move) sees the link written at t1 and restores B. If the
//    data was already in the trash, the check fails and the push is refused with
//    MANIFEST_BLOB_UNKNOWN (the client uploads the blob again): never a manifest without its blob.
//    The one remaining window: a refresh of a link that lands between the sweep's re-stat of that
//    link and its delete (a few milliseconds), from a push that then takes longer than the rest of
//    the sweep to write its manifest; the grace period should be far longer than any push.
// A blob in the trash is briefly unavailable to a pull (404) until it is restored.
import { isDigest, parseManifest, referencedBlobs, referencedManifests, type Digest } from '../oci/index.js';
import { isNotFound, type BulkSession, type FileInfo, type StorageDriver } from './driver.js';
import { layout, parsePath } from './layout.js';
import { mapLimit } from '../util/limit.js';
import { openBulk } from './bulk.js';
import { walkFiles } from './walk.js';

export interface GcHooks {
  /** After the first mark, before anything is deleted (tests: pushes "during the sweep"). */
  afterMark?(): Promise<void>;
  /** After links, revisions and data were swept (data in the trash), before the second mark. */
  afterSweep?(): Promise<void>;
}

export interface GcOptions {
  /** Nothing younger than this (ms, by modification time) is deleted. */
  gracePeriodMs: number;
  /** Delete manifests that no tag reaches (never children of a tagged index, nor kept referrers). */
  deleteUntagged?: boolean;
  /** Referrers of live manifests are live (default true). */
  keepReferrers?: boolean;
  /** Compute and report what would be deleted, delete nothing. */
  dryRun?: boolean;
  /** Storage requests in flight at most (default 8). */
  concurrency?: number;
  /** Tags (`repo:tag`) to treat as already deleted: a retention dry run before this GC. */
  ignoreTags?: ReadonlySet<string>;
  now?: () => number;
  hooks?: GcHooks;
  /** Progress messages. */
  onPhase?: (phase: string, detail: Record<string, unknown>) => void;
}

export type GcDeletionKind = 'manifest' | 'referrer' | 'link' | 'blob';

export interface GcDeletion {
  kind: GcDeletionKind;
  /** For manifests, referrers (the referrer's digest) and links. */
  repository?: string;
  digest: Digest;
  /** The subject of a referrer entry. */
  subject?: Digest;
  /** Bytes freed: the data's size for blobs, 0 for links and records. */
  size: number;
}

export interface GcReport {
  dryRun: boolean;
  startedAt: Date;
  durationMs: number;
  deleted: GcDeletion[];
  /** Deleted objects the final check restored because a concurrent push referenced them. */
  restored: number;
  blobsFreed: number;
  bytesFreed: number;
  objectsFreed: number;
  repositories: number;
  blobsScanned: number;
  marked: { manifests: number; blobs: number };
}

interface FileStamp {
  modTime: Date;
}

interface RepoScan {
  name: string;
  tags: Map<string, FileStamp>;
  revisions: Map<Digest, FileStamp>;
  layers: Map<Digest, FileStamp>;
  /** subject → referrer → link stamp */
  referrers: Map<Digest, Map<Digest, FileStamp>>;
}

interface Marks {
  /** repo → manifests reached */
  manifests: Map<string, Set<Digest>>;
  /** repo → blobs (configs, layers) reached */
  layers: Map<string, Set<Digest>>;
  /** all data reached: manifests' content and blobs */
  blobs: Set<Digest>;
}

interface RevisionRecord {
  mediaType: string;
  size: number;
  subject?: Digest;
}

/** Sorts the files under /repositories into repositories' tags, revisions, layer links and referrers. */
export function parseRepositoryFiles(files: readonly FileInfo[]): Map<string, RepoScan> {
  const repos = new Map<string, RepoScan>();
  for (const f of files) {
    const p = parsePath(f.path);
    if (!p || !('repo' in p) || p.kind === 'catalog-entry') continue;
    let repo = repos.get(p.repo);
    if (!repo) {
      repo = { name: p.repo, tags: new Map(), revisions: new Map(), layers: new Map(), referrers: new Map() };
      repos.set(p.repo, repo);
    }
    const stamp = { modTime: f.modTime };
    if (p.kind === 'layer-link') repo.layers.set(p.digest, stamp);
    else if (p.kind === 'revision-link') repo.revisions.set(p.digest, stamp);
    else if (p.kind === 'tag-link') repo.tags.set(p.tag, stamp);
    else if (p.kind === 'referrer-link') {
      let m = repo.referrers.get(p.subject);
      if (!m) repo.referrers.set(p.subject, (m = new Map()));
      m.set(p.referrer, stamp);
    }
  }
  return repos;
}

export async function scanRepositories(driver: StorageDriver, concurrency = 8): Promise<Map<string, RepoScan>> {
  return parseRepositoryFiles(await walkFiles(driver, layout.repositoriesRoot, concurrency));
}

/** Stored blob data: digest → size and time. */
export async function scanBlobs(driver: StorageDriver, concurrency = 8): Promise<Map<Digest, FileInfo>> {
  return blobDataFiles(await walkFiles(driver, layout.blobsRoot, concurrency));
}

function blobDataFiles(files: readonly FileInfo[]): Map<Digest, FileInfo> {
  const out = new Map<Digest, FileInfo>();
  for (const f of files) {
    const p = parsePath(f.path);
    if (p?.kind === 'blob-data') out.set(p.digest, f);
  }
  return out;
}

function addTo<K, V>(m: Map<K, Set<V>>, k: K, v: V): boolean {
  let s = m.get(k);
  if (!s) m.set(k, (s = new Set()));
  if (s.has(v)) return false;
  s.add(v);
  return true;
}

async function ignoreNotFound<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export class GarbageCollector {
  private readonly concurrency: number;
  private readonly now: () => number;
  /** Manifest content by digest (immutable), for the run. */
  private readonly contents = new Map<Digest, Buffer>();
  /** Revision records read (repo@digest → record): the same for a digest whenever it is written. */
  private readonly records = new Map<string, RevisionRecord>();
  /** The run's batches of storage operations (open while run() runs). */
  private bulk!: BulkSession;
  /** Records of revisions this run deleted, to restore them (repo@digest → record). */
  private readonly deletedRevisions = new Map<string, RevisionRecord>();
  /** Blobs this run moved to the trash. */
  private readonly trashed = new Set<Digest>();

  constructor(
    private readonly driver: StorageDriver,
    private readonly opts: GcOptions,
  ) {
    this.concurrency = opts.concurrency ?? 8;
    this.now = opts.now ?? Date.now;
  }

  async run(): Promise<GcReport> {
    this.bulk = openBulk(this.driver, this.concurrency);
    try {
      return await this.collect();
    } finally {
      await this.bulk.close();
    }
  }

  private async collect(): Promise<GcReport> {
    const bulk = this.bulk;
    const started = this.now();
    const cutoff = started - this.opts.gracePeriodMs;
    const deleteUntagged = this.opts.deleteUntagged ?? false;
    const dryRun = this.opts.dryRun ?? false;
    const phase = this.opts.onPhase ?? (() => undefined);
    // The listings run on the bulk session's thread while this one works: the links' listing
    // while the trash is recovered, the data's listing while the links are parsed and marked.
    // Listing the data earlier than the mark is safe: it only names candidates, each checked
    // again (by time) when it is moved, and the final check restores whatever turns out used.
    // The links' times matter only to delete untagged manifests (young revisions are roots, old
    // unreached ones go); otherwise their directories name them, without a stat each: every delete
    // checks its link first, and the final check reads the links it relies on.
    const linkFind = { stat: deleteUntagged || dryRun }; // (a dry run deletes nothing: it must know what is young)
    const linksListed = settledLater(bulk.find(layout.repositoryLinkPatterns, linkFind));
    if (!dryRun) await this.recoverTrash();
    // After the recovery, so that data it puts back is listed.
    const blobsListed = settledLater(bulk.find([layout.blobDataPattern]));

    const repos = parseRepositoryFiles(await linksListed);
    const marks = await this.mark(repos, cutoff, this.opts.ignoreTags);
    const blobs = blobDataFiles(await blobsListed);
    phase('marked', { repositories: repos.size, manifests: count(marks.manifests), blobs: marks.blobs.size, stored: blobs.size });
    await this.opts.hooks?.afterMark?.();

    const deleted: GcDeletion[] = [];
    const isOld = (t: Date) => t.getTime() < cutoff;
    // Each delete happens only if what it removes is still old right then (a concurrent push
    // rewrites what it uses): the bulk operations check and act back to back, one batch per kind,
    // and each batch is durable before the next starts (links before the data they point at).
    const sortedRepos = [...repos.values()].sort((a, b) => byKey([a.name], [b.name]));

    // 1. Repositories: untagged revisions (with their referrer entries), then layer links.
    const goneRevisions = new Map<string, Set<Digest>>();
    if (deleteUntagged) {
      const candidates: { repo: RepoScan; digest: Digest }[] = [];
      for (const repo of sortedRepos) {
        const live = marks.manifests.get(repo.name) ?? new Set();
        for (const [digest, stamp] of [...repo.revisions].sort(byKey)) {
          if (!live.has(digest) && isOld(stamp.modTime)) candidates.push({ repo, digest });
        }
      }
      const recs = await this.readRevisions(candidates.map((c) => ({ repo: c.repo.name, digest: c.digest })));
      const withRecord = candidates.filter((_, i) => recs[i] !== undefined);
      const outcomes = dryRun
        ? withRecord.map(() => 'done')
        : await bulk.deleteMany(
            withRecord.map((c) => {
              const link = layout.revisionLink(c.repo.name, c.digest);
              return { path: dirOf(link), check: link };
            }),
            cutoff,
          );
      withRecord.forEach((c, i) => {
        if (outcomes[i] !== 'done') return;
        const key = `${c.repo.name}@${c.digest}`;
        if (!dryRun) this.deletedRevisions.set(key, this.records.get(key)!);
        addTo(goneRevisions, c.repo.name, c.digest);
        deleted.push({ kind: 'manifest', repository: c.repo.name, digest: c.digest, size: 0 });
      });
      const referrers: GcDeletion[] = [];
      for (const repo of sortedRepos) {
        const gone = goneRevisions.get(repo.name);
        if (!gone) continue;
        for (const [subject, refs] of [...repo.referrers].sort(byKey)) {
          for (const [referrer] of [...refs].sort(byKey)) {
            if (gone.has(referrer)) referrers.push({ kind: 'referrer', repository: repo.name, digest: referrer, subject, size: 0 });
          }
        }
      }
      if (!dryRun) await bulk.deleteMany(referrers.map((d) => ({ path: dirOf(layout.referrerLink(d.repository!, d.subject!, d.digest)) })));
      deleted.push(...referrers);
    }
    const remainingLinks = new Set<Digest>();
    const linkCandidates: { repo: string; digest: Digest }[] = [];
    for (const repo of sortedRepos) {
      const live = marks.layers.get(repo.name) ?? new Set();
      for (const [digest, stamp] of [...repo.layers].sort(byKey)) {
        if (live.has(digest) || !isOld(stamp.modTime)) remainingLinks.add(digest);
        else linkCandidates.push({ repo: repo.name, digest });
      }
    }
    const linkOutcomes = dryRun
      ? linkCandidates.map(() => 'done')
      : await bulk.deleteMany(
          linkCandidates.map((c) => {
            const link = layout.layerLink(c.repo, c.digest);
            return { path: dirOf(link), check: link };
          }),
          cutoff,
        );
    linkCandidates.forEach((c, i) => {
      if (linkOutcomes[i] === 'done') deleted.push({ kind: 'link', repository: c.repo, digest: c.digest, size: 0 });
      // A young link stays. A missing one (deleted meanwhile, or a directory whose link was never
      // written) protects nothing: its blob may go, and the final check restores it if used.
      else if (linkOutcomes[i] === 'young') remainingLinks.add(c.digest);
    });

    // 2. Blob data that nothing marked references and no remaining link points at: to the trash.
    // Moves to the trash need not be durable: after a power cut, data is either still in place
    // or in the trash, which every run and every server start empties back (recoverGcTrash).
    const doomed = [...blobs.values()]
      .map((f) => ({ f, digest: digestOfDataPath(f.path)! }))
      .filter(({ f, digest }) => !marks.blobs.has(digest) && !remainingLinks.has(digest) && isOld(f.modTime))
      .sort((a, b) => byKey([a.digest], [b.digest]));
    const blobDeletions = new Map<Digest, GcDeletion>();
    const moved = dryRun
      ? doomed.map(() => 'done')
      : await bulk.moveMany(
          doomed.map(({ f, digest }) => ({ from: f.path, to: layout.gcTrash(digest), check: f.path })),
          { olderThan: cutoff, durable: false },
        );
    doomed.forEach(({ f, digest }, i) => {
      if (moved[i] !== 'done') return;
      if (!dryRun) this.trashed.add(digest);
      blobDeletions.set(digest, { kind: 'blob', digest, size: f.size });
    });
    phase('swept', { links: deleted.length, blobs: blobDeletions.size });
    await this.opts.hooks?.afterSweep?.();

    // 3. The final check: mark again from a fresh listing; restore whatever it reaches.
    let restored = 0;
    if (!dryRun) {
      const again = parseRepositoryFiles(await bulk.find(layout.repositoryLinkPatterns, linkFind));
      const marks2 = await this.mark(again, cutoff, undefined, true);
      const stillLinked = await this.linkedNow(again, blobDeletions, linkFind.stat);
      const keep = (d: GcDeletion): boolean => {
        if (d.kind === 'blob') return !marks2.blobs.has(d.digest) && !stillLinked.has(d.digest);
        if (d.kind === 'link') return !marks2.layers.get(d.repository!)?.has(d.digest);
        if (d.kind === 'manifest') return !marks2.manifests.get(d.repository!)?.has(d.digest);
        return !marks2.manifests.get(d.repository!)?.has(d.digest); // referrer entry
      };
      const restoreList = [...deleted, ...blobDeletions.values()].filter((d) => !keep(d));
      await mapLimit(restoreList, this.concurrency, (d) => this.restore(d));
      restored = restoreList.length;
      const restoredSet = new Set(restoreList);
      for (let i = deleted.length - 1; i >= 0; i--) if (restoredSet.has(deleted[i]!)) deleted.splice(i, 1);
      for (const [digest, d] of blobDeletions) if (restoredSet.has(d)) blobDeletions.delete(digest);
      // Durable when it resolves: one fsync of the trash's directory for the whole batch.
      await bulk.deleteMany([...blobDeletions.keys()].map((digest) => ({ path: layout.gcTrash(digest) })));
    }

    deleted.push(...blobDeletions.values());
    deleted.sort(compareDeletions);
    const blobsFreed = blobDeletions.size;
    const bytesFreed = [...blobDeletions.values()].reduce((n, d) => n + d.size, 0);
    return {
      dryRun,
      startedAt: new Date(started),
      durationMs: this.now() - started,
      deleted,
      restored,
      blobsFreed,
      bytesFreed,
      objectsFreed: deleted.length,
      repositories: repos.size,
      blobsScanned: blobs.size,
      marked: { manifests: count(marks.manifests), blobs: marks.blobs.size },
    };
  }

  /**
   * Which of the trashed blobs a repository links now. A link named by its directory only (found
   * without `stat`) is read to be sure: a directory left without its link must not keep a blob.
   */
  private async linkedNow(repos: Map<string, RepoScan>, trashed: ReadonlyMap<Digest, GcDeletion>, found: boolean): Promise<Set<Digest>> {
    const named = [...repos.values()].flatMap((r) => [...r.layers.keys()].filter((d) => trashed.has(d)).map((digest) => ({ repo: r.name, digest })));
    const there = found ? named.map(() => true) : (await this.bulk.getContents(named.map((l) => layout.layerLink(l.repo, l.digest)))).map((b) => b !== undefined);
    return new Set(named.filter((_, i) => there[i]).map((l) => l.digest));
  }

  /** Data left in the trash by an interrupted run goes back; this run decides again. */
  private recoverTrash(): Promise<void> {
    return recoverGcTrash(this.driver, this.concurrency);
  }

  private async restore(d: GcDeletion): Promise<void> {
    switch (d.kind) {
      case 'blob':
        if (this.trashed.has(d.digest)) {
          await ignoreNotFound(this.driver.move(layout.gcTrash(d.digest), layout.blobData(d.digest)));
          this.trashed.delete(d.digest);
        }
        return;
      case 'link':
        await this.driver.putContent(layout.layerLink(d.repository!, d.digest), Buffer.from(d.digest));
        return;
      case 'manifest': {
        const rec = this.deletedRevisions.get(`${d.repository}@${d.digest}`);
        if (rec) await this.driver.putContent(layout.revisionLink(d.repository!, d.digest), Buffer.from(JSON.stringify(rec)));
        return;
      }
      case 'referrer': {
        const rec = this.deletedRevisions.get(`${d.repository}@${d.digest}`);
        const content = await this.content(d.digest);
        if (!rec || !content) return;
        const desc: Record<string, unknown> = { mediaType: rec.mediaType, digest: d.digest, size: rec.size };
        try {
          const parsed = parseManifest(content, rec.mediaType);
          if (parsed.artifactType) desc.artifactType = parsed.artifactType;
          const ann = parsed.document.annotations;
          if (ann && Object.keys(ann).length > 0) desc.annotations = ann;
        } catch {
          // unparsable: the plain descriptor
        }
        await this.driver.putContent(layout.referrerLink(d.repository!, d.subject!, d.digest), Buffer.from(JSON.stringify(desc)));
        return;
      }
    }
  }

  /**
   * Revision records (cached for the run), in one batch; undefined where there is none. With
   * `allowDeleted`, records this run deleted count as present.
   */
  private async readRevisions(items: readonly { repo: string; digest: Digest }[], allowDeleted = false): Promise<(RevisionRecord | undefined)[]> {
    const missing = [...new Set(items.map((i) => `${i.repo}@${i.digest}`).filter((k) => !this.records.has(k)))];
    const raws = await this.bulk.getContents(missing.map((k) => layout.revisionLink(k.slice(0, k.lastIndexOf('@')), k.slice(k.lastIndexOf('@') + 1) as Digest)));
    missing.forEach((k, i) => {
      const raw = raws[i];
      if (!raw) return;
      let rec: RevisionRecord;
      try {
        rec = JSON.parse(raw.toString('utf8')) as RevisionRecord;
      } catch {
        rec = { mediaType: '', size: 0 };
      }
      this.records.set(k, rec);
    });
    return items.map(({ repo, digest }) => {
      const k = `${repo}@${digest}`;
      return this.records.get(k) ?? (allowDeleted ? this.deletedRevisions.get(k) : undefined);
    });
  }

  /** Manifest content, wherever it is now (the trash included), in one batch; cached for the run. */
  private async contentsOf(digests: readonly Digest[]): Promise<(Buffer | undefined)[]> {
    const missing = [...new Set(digests.filter((d) => !this.contents.has(d)))];
    const found = await this.bulk.getContents(missing.map((d) => layout.blobData(d)));
    const inTrash = missing.filter((d, i) => !found[i] && this.trashed.has(d));
    const fromTrash = await this.bulk.getContents(inTrash.map((d) => layout.gcTrash(d)));
    missing.forEach((d, i) => {
      if (found[i]) this.contents.set(d, found[i]);
    });
    inTrash.forEach((d, i) => {
      if (fromTrash[i]) this.contents.set(d, fromTrash[i]);
    });
    return digests.map((d) => this.contents.get(d));
  }

  private async content(digest: Digest): Promise<Buffer | undefined> {
    return (await this.contentsOf([digest]))[0];
  }

  /**
   * Everything reachable. Roots: tags (but `ignoreTags`), revisions younger than the cutoff, and
   * all revisions unless deleteUntagged. `afterSweep`: revisions this run deleted count as present
   * (a tag pushed meanwhile may point at one; it is then restored). Reads in one batch per level
   * of the graph (tags, then manifests, then their children...).
   */
  private async mark(repos: Map<string, RepoScan>, cutoff: number, ignoreTags?: ReadonlySet<string>, afterSweep = false): Promise<Marks> {
    const marks: Marks = { manifests: new Map(), layers: new Map(), blobs: new Set() };
    const deleteUntagged = this.opts.deleteUntagged ?? false;
    const keepReferrers = this.opts.keepReferrers ?? true;
    type Item = { repo: RepoScan; digest: Digest };
    let frontier: Item[] = [];
    const push = (repo: RepoScan, digest: Digest) => {
      if (addTo(marks.manifests, repo.name, digest)) frontier.push({ repo, digest });
    };
    const present = (repo: RepoScan, d: Digest) => repo.revisions.has(d) || (afterSweep && this.deletedRevisions.has(`${repo.name}@${d}`));
    const tags: { repo: RepoScan; path: string }[] = [];
    for (const repo of repos.values()) {
      for (const [digest, stamp] of repo.revisions) {
        if (!deleteUntagged || stamp.modTime.getTime() >= cutoff) push(repo, digest);
      }
      for (const t of repo.tags.keys()) if (!ignoreTags?.has(`${repo.name}:${t}`)) tags.push({ repo, path: layout.tagLink(repo.name, t) });
    }
    const targets = await this.bulk.getContents(tags.map((t) => t.path));
    tags.forEach(({ repo }, i) => {
      const text = targets[i]?.toString('utf8').trim();
      const d = text && isDigest(text) ? text : undefined;
      if (d && present(repo, d)) push(repo, d);
    });
    while (frontier.length > 0) {
      const batch = frontier;
      frontier = [];
      const recs = await this.readRevisions(batch.map(({ repo, digest }) => ({ repo: repo.name, digest })), afterSweep);
      const contents = await this.contentsOf(batch.map((b) => b.digest));
      batch.forEach(({ repo, digest }, i) => {
        marks.blobs.add(digest);
        const rec = recs[i];
        const content = contents[i];
        if (content && rec) {
          try {
            const parsed = parseManifest(content, rec.mediaType || undefined);
            for (const b of referencedBlobs(parsed)) {
              marks.blobs.add(b.digest);
              addTo(marks.layers, repo.name, b.digest);
            }
            for (const m of referencedManifests(parsed)) if (present(repo, m.digest)) push(repo, m.digest);
          } catch {
            // A manifest that no longer parses (corrupt content): keep it, it references nothing.
          }
        }
        if (keepReferrers) {
          for (const referrer of repo.referrers.get(digest)?.keys() ?? []) if (present(repo, referrer)) push(repo, referrer);
        }
      });
    }
    return marks;
  }
}

const KIND_ORDER: GcDeletionKind[] = ['manifest', 'referrer', 'link', 'blob'];

function compareDeletions(a: GcDeletion, b: GcDeletion): number {
  const k = KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind);
  if (k !== 0) return k;
  const x = formatGcDeletion(a);
  const y = formatGcDeletion(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The promise, marked as handled until it is awaited (it may reject while other work is awaited first). */
function settledLater<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

function count(m: Map<string, Set<Digest>>): number {
  let n = 0;
  for (const s of m.values()) n += s.size;
  return n;
}

function dirOf(linkPath: string): string {
  return linkPath.slice(0, linkPath.lastIndexOf('/'));
}

function byKey<K extends string>(a: [K, ...unknown[]], b: [K, ...unknown[]]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

function digestOfDataPath(path: string): Digest | undefined {
  const p = parsePath(path);
  return p?.kind === 'blob-data' ? p.digest : undefined;
}

/**
 * Puts blob data left in the trash by an interrupted run (a crash between sweep and final check)
 * back in place. Every run does this first; a server does it at start, so a blob a crash left in
 * the trash is not unavailable until the next run. Restoring is always safe: the worst case is
 * that a concurrent run frees less.
 */
export async function recoverGcTrash(driver: StorageDriver, concurrency = 8): Promise<void> {
  const files = await walkFiles(driver, layout.gcTrashRoot, concurrency);
  await mapLimit(files, concurrency, async (f) => {
    const p = parsePath(f.path);
    if (p?.kind !== 'gc-trash') return;
    const { digest } = p;
    const present = await ignoreNotFound(driver.stat(layout.blobData(digest)));
    // Old-format trash (`<hex>/data`) goes with its directory.
    if (present) await ignoreNotFound(driver.delete(f.path.endsWith('/data') ? dirOf(f.path) : f.path));
    else await ignoreNotFound(driver.move(f.path, layout.blobData(digest)));
  });
}

/** Runs one garbage collection (see the header of this file). */
export function collectGarbage(driver: StorageDriver, opts: GcOptions): Promise<GcReport> {
  return new GarbageCollector(driver, opts).run();
}

/** One line per deletion, the same for a dry run and a real one (sorted within each kind). */
export function formatGcDeletion(d: GcDeletion): string {
  switch (d.kind) {
    case 'manifest':
      return `manifest ${d.repository}@${d.digest}`;
    case 'referrer':
      return `referrer ${d.repository}@${d.subject} <- ${d.digest}`;
    case 'link':
      return `link ${d.repository} ${d.digest}`;
    case 'blob':
      return `blob ${d.digest} ${d.size}`;
  }
}
