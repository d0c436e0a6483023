// Where everything lives in a storage backend. Content is stored once under /blobs by digest;
// repositories hold only links, so a blob is reachable through a repository only after that
// repository pushed or mounted it (the layout of distribution's registry/storage/paths.go).
import { parseDigest, type Digest } from '../oci/index.js';

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
  referrersDir(repo: string, subject: Digest): string {
    return `/repositories/${repo}/_referrers/${digestDir(subject)}`;
  },
  referrerLink(repo: string, subject: Digest, referrer: Digest): string {
    return `/repositories/${repo}/_referrers/${digestDir(subject)}/${digestDir(referrer)}/link`;
  },
  /**
   * Blob data set aside by garbage collection between its sweep and its final check (restored if
   * a push referenced it meanwhile, deleted otherwise). Never served.
   */
  gcTrashRoot: '/_gc/trash',
  gcTrash(digest: Digest): string {
    return `/_gc/trash/${digestDir(digest)}/data`;
  },
  /** Content whose bytes no longer match its digest, moved aside by `stevedore scrub --quarantine`. */
  quarantineRoot: '/quarantine',
  quarantine(digest: Digest): string {
    return `/quarantine/${digestDir(digest)}/data`;
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
