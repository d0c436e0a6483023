// Storage: drivers and the registry's repository layout on top of them.
import type { Digest } from '../oci/index.js';
import type { StorageDriver } from './driver.js';
import { BlobStore } from './blob-store.js';
import { ManifestStore } from './manifest-store.js';
import { RepositoryCatalog } from './repository-catalog.js';
import { QuotaLedger, type QuotaNamespace } from './quota-ledger.js';
import { UploadStore, type UploadStoreOptions } from './upload-store.js';

export * from './driver.js';
export * from './blob-store.js';
export * from './manifest-store.js';
export * from './repository-catalog.js';
export * from './upload-store.js';
export { FilesystemDriver } from './filesystem-driver.js';
// The S3 driver is imported from './s3-driver.js' where needed, so the AWS SDK loads only then.
export * from './instrumented-driver.js';
export * from './garbage-collector.js';
export * from './gc-run-record.js';
export * from './retention.js';
export * from './scrub.js';
export * from './quota-ledger.js';
export { mapLimit } from '../util/limit.js';
export { walkFiles } from './walk.js';

/** Everything the registry keeps, over one driver. */
export interface RegistryStorage {
  driver: StorageDriver;
  blobs: BlobStore;
  uploads: UploadStore;
  manifests: ManifestStore;
  catalog: RepositoryCatalog;
  /** Quota accounting, when quotas are configured (storage/quota-ledger.ts). */
  quotas?: QuotaLedger;
}

export interface RegistryStorageOptions extends UploadStoreOptions {
  /** Quota namespaces whose usage links are accounted in (none: no accounting). */
  quotas?: { namespaces: readonly QuotaNamespace[]; maxAgeMs: number };
}

export function openRegistryStorage(driver: StorageDriver, opts: RegistryStorageOptions = {}): RegistryStorage {
  const catalog = new RepositoryCatalog(driver);
  const note = (repo: string) => catalog.note(repo);
  const quotas = opts.quotas?.namespaces.length ? new QuotaLedger(driver, opts.quotas.namespaces, { maxAgeMs: opts.quotas.maxAgeMs }) : undefined;
  const onLinked = quotas && ((repo: string, digest: Digest, size: number) => quotas.record(repo, digest, size));
  const blobs = new BlobStore(driver, { onRepositoryWrite: note, onLinked });
  return {
    driver,
    blobs,
    uploads: new UploadStore(driver, blobs, opts),
    manifests: new ManifestStore(driver, blobs, note, onLinked),
    catalog,
    ...(quotas ? { quotas } : {}),
  };
}
