// Where everything lives in a storage backend. Content is stored once under /blobs by digest;
// repositories hold only links, so a blob is reachable through a repository only after that
// repository pushed or mounted it (the layout of distribution's registry/storage/paths.go).
// Paths are built (`layout`) and read back (`parsePath`) here and nowhere else.
import { isDigest, parseDigest, type Digest } from '../oci/index.js';

function digestDir(digest: Digest): string {
  const { algorithm, hex } = parseDigest(digest);
  return `${algorithm.name}/${hex}`;
}

export const layout = {
  blobData(digest: Digest): string {
    const { algorithm, hex } = parseDigest(digest);
    return `/blobs/${algorithm.name}/${hex.slice(0, 2)}/${hex}/data`;
  },
  blobsRoot: '/blobs',
  /** Every blob's data (storage/path-pattern.ts). */
  blobDataPattern: '/blobs/*/*/*/data',
  /** Every link garbage collection reads under /repositories: layers, revisions, tags, referrers. */
  repositoryLinkPatterns: [
    '/repositories/**/_layers/*/*/link',
    '/repositories/**/_manifests/revisions/*/*/link',
    '/repositories/**/_manifests/tags/*/current/link',
    '/repositories/**/_referrers/*/*/*/*/link',
  ] as readonly string[],
  repositoriesRoot: '/repositories',
  /** One empty object per repository (`/` in the name as `+`, never valid in names): the catalog in one listing. */
  catalogRoot: '/catalog',
  catalogEntry(name: string): string {
    return `/catalog/${name.replaceAll('/', '+')}`;
  },
  repository(name: string): string {
    return `/repositories/${name}`;
  },
  layerLink(repo: string, digest: Digest): string {
    return `/repositories/${repo}/_layers/${digestDir(digest)}/link`;
  },
  revisionLink(repo: string, digest: Digest): string {
    return `/repositories/${repo}/_manifests/revisions/${digestDir(digest)}/link`;
  },
  tagsDir(repo: string): string {
    return `/repositories/${repo}/_manifests/tags`;
  },
  tagLink(repo: string, tag: string): string {
    return `/repositories/${repo}/_manifests/tags/${tag}/current/link`;
  },
  tagDir(repo: string, tag: string): string {
    return `/repositories/${repo}/_manifests/tags/${tag}`;
  },
  /** distribution's history of a tag (written by distribution; read by nothing here, kept for GC compatibility). */
  tagIndexLink(repo: string, tag: string, digest: Digest): string {
    return `/repositories/${repo}/_manifests/tags/${tag}/index/${digestDir(digest)}/link`;
  },
  referrersDir(repo: string, subject: Digest): string {
    return `/repositories/${repo}/_referrers/${digestDir(subject)}`;
  },
  referrerLink(repo: string, subject: Digest, referrer: Digest): string {
    return `/repositories/${repo}/_referrers/${digestDir(subject)}/${digestDir(referrer)}/link`;
  },
  /**
   * Blob data set aside by garbage collection between its sweep and its final check (restored if
   * a push referenced it meanwhile, deleted otherwise). Never served. One file per blob, no
   * directory of its own: on a filesystem that saves a mkdir and an rmdir per blob collected.
   * (Before 2026-12 it was `/_gc/trash/<alg>/<hex>/data`; parsePath still reads that, so data an
   * older version left in the trash is restored.)
   */
  gcTrashRoot: '/_gc/trash',
  gcTrash(digest: Digest): string {
    return `/_gc/trash/${digestDir(digest)}`;
  },
  /** The summary of the last garbage collection run, whoever ran it (storage/gc-run-record.ts). */
  gcLastRun: '/_gc/last-run.json',
  /** Content whose bytes no longer match its digest, moved aside by `stevedore scrub --quarantine`. */
  quarantineRoot: '/quarantine',
  quarantine(digest: Digest): string {
    return `/quarantine/${digestDir(digest)}/data`;
  },
  /** The pull-through mirror's own state (last-pulled times for eviction). */
  mirrorRoot: '/_mirror',
  mirrorLastPulled: '/_mirror/last-pulled.json',
  /**
   * Quota accounting (storage/quota-ledger.ts): per quota namespace (a key derived from its
   * repository globs), one empty marker per blob linked into a matching repository, its size in
   * the path so one listing sums the usage; and the total the last reconciliation computed.
   */
  quotaRoot: '/_quota',
  quotaNamespace(key: string): string {
    return `/_quota/${key}`;
  },
  quotaMarkerDir(key: string, digest: Digest): string {
    return `/_quota/${key}/${digestDir(digest)}`;
  },
  quotaMarker(key: string, digest: Digest, size: number): string {
    return `/_quota/${key}/${digestDir(digest)}/${size}`;
  },
  quotaTotal(key: string): string {
    return `/_quota/${key}/total`;
  },
  /** Written when a reconciliation starts: its modification time is the scan's start on the storage's own clock. */
  quotaScanStamp(id: string): string {
    return `/_quota/_scan-${id}`;
  },
  /** Robot tokens (server/auth/robot-tokens.ts): one JSON record per robot, its last use apart. */
  robotTokensRoot: '/_stevedore/robots',
  robotToken(name: string): string {
    return `/_stevedore/robots/${name}.json`;
  },
  robotLastUsed(name: string): string {
    return `/_stevedore/robots-last-used/${name}`;
  },
  uploadsRoot: '/uploads',
  uploadDir(id: string): string {
    return `/uploads/${id}`;
  },
  uploadData(id: string): string {
    return `/uploads/${id}/data`;
  },
  uploadInfo(id: string): string {
    return `/uploads/${id}/info`;
  },
  /** The verified digest of an upload being committed (see UploadStore.commit). */
  uploadCommit(id: string): string {
    return `/uploads/${id}/committing`;
  },
  /** Saved running digest of an upload (when digests are resumable). */
  uploadDigestState(id: string): string {
    return `/uploads/${id}/digeststate`;
  },
};

/** Marks of the layout inside a repository directory: never valid repository name components. */
export const REPOSITORY_MARKERS = ['_layers', '_manifests', '_referrers'];

/** The top-level directories of the layout (what a bucket shared with other data may clean up). */
export const TOP_LEVEL_DIRS: readonly string[] = [
  layout.blobsRoot,
  layout.repositoriesRoot,
  layout.catalogRoot,
  layout.uploadsRoot,
  layout.gcTrashRoot,
  layout.quarantineRoot,
  layout.mirrorRoot,
  layout.quotaRoot,
  layout.robotTokensRoot,
].map((p) => p.split('/')[1]!);

/** What a path of the layout is, read back from the path (the inverse of `layout`). */
export type LayoutPath =
  | { kind: 'blob-data'; digest: Digest }
  | { kind: 'layer-link'; repo: string; digest: Digest }
  | { kind: 'revision-link'; repo: string; digest: Digest }
  | { kind: 'tag-link'; repo: string; tag: string }
  | { kind: 'tag-index-link'; repo: string; tag: string; digest: Digest }
  | { kind: 'referrer-link'; repo: string; subject: Digest; referrer: Digest }
  | { kind: 'gc-trash'; digest: Digest }
  | { kind: 'quarantine'; digest: Digest }
  | { kind: 'catalog-entry'; repo: string }
  | { kind: 'quota-marker'; key: string; digest: Digest; size: number }
  | { kind: 'upload'; id: string; file: string };

function digestAt(alg: string | undefined, hex: string | undefined): Digest | undefined {
  const d = `${alg}:${hex}`;
  return alg && hex && isDigest(d) ? (d as Digest) : undefined;
}

/** Reads a path of the layout back; undefined for anything the layout does not write there. */
export function parsePath(path: string): LayoutPath | undefined {
  const parts = path.split('/');
  if (parts[0] !== '') return undefined;
  const top = parts[1];
  if (top === 'blobs') {
    // /blobs/<alg>/<xx>/<hex>/data
    const digest = parts.length === 6 && parts[5] === 'data' ? digestAt(parts[2], parts[4]) : undefined;
    return digest && parts[3] === parseDigest(digest).hex.slice(0, 2) ? { kind: 'blob-data', digest } : undefined;
  }
  if (top === '_gc') {
    // /_gc/trash/<alg>/<hex>, or /_gc/trash/<alg>/<hex>/data as older versions wrote it
    if (parts[2] !== 'trash' || !(parts.length === 5 || (parts.length === 6 && parts[5] === 'data'))) return undefined;
    const digest = digestAt(parts[3], parts[4]);
    return digest ? { kind: 'gc-trash', digest } : undefined;
  }
  if (top === 'quarantine') {
    // /quarantine/<alg>/<hex>/data
    if (parts.length !== 5 || parts[4] !== 'data') return undefined;
    const digest = digestAt(parts[2], parts[3]);
    return digest ? { kind: 'quarantine', digest } : undefined;
  }
  if (top === '_quota') {
    // /_quota/<key>/<alg>/<hex>/<size>
    const digest = parts.length === 6 ? digestAt(parts[3], parts[4]) : undefined;
    const size = Number(parts[5]);
    return digest && parts[2] && /^\d{1,16}$/.test(parts[5]!) && Number.isSafeInteger(size) ? { kind: 'quota-marker', key: parts[2], digest, size } : undefined;
  }
  if (top === 'catalog') return parts.length === 3 && parts[2] ? { kind: 'catalog-entry', repo: parts[2].replaceAll('+', '/') } : undefined;
  if (top === 'uploads') return parts.length === 4 && parts[2] && parts[3] ? { kind: 'upload', id: parts[2], file: parts[3] } : undefined;
  if (top !== 'repositories' || parts[parts.length - 1] !== 'link') return undefined;
  const i = parts.findIndex((p, idx) => idx >= 2 && REPOSITORY_MARKERS.includes(p));
  if (i < 3) return undefined;
  const repo = parts.slice(2, i).join('/');
  const rest = parts.slice(i);
  if (rest[0] === '_layers' && rest.length === 4) {
    const digest = digestAt(rest[1], rest[2]);
    return digest && { kind: 'layer-link', repo, digest };
  }
  if (rest[0] === '_manifests' && rest[1] === 'revisions' && rest.length === 5) {
    const digest = digestAt(rest[2], rest[3]);
    return digest && { kind: 'revision-link', repo, digest };
  }
  if (rest[0] === '_manifests' && rest[1] === 'tags' && rest.length === 5 && rest[3] === 'current') return { kind: 'tag-link', repo, tag: rest[2]! };
  if (rest[0] === '_manifests' && rest[1] === 'tags' && rest.length === 7 && rest[3] === 'index') {
    const digest = digestAt(rest[4], rest[5]);
    return digest && { kind: 'tag-index-link', repo, tag: rest[2]!, digest };
  }
  if (rest[0] === '_referrers' && rest.length === 6) {
    const subject = digestAt(rest[1], rest[2]);
    const referrer = digestAt(rest[3], rest[4]);
    return subject && referrer ? { kind: 'referrer-link', repo, subject, referrer } : undefined;
  }
  return undefined;
}
