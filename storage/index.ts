// Storage: drivers and the registry's repository layout on top of them.
import type { StorageDriver } from './driver.js';
import { BlobStore } from './blob-store.js';
import { ManifestStore } from './manifest-store.js';
import { RepositoryCatalog } from './repository-catalog.js';
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
export { mapLimit } from '../util/limit.js';
export { walkFiles } from './walk.js';

/** Everything the registry keeps, over one driver. */
export interface RegistryStorage {
  driver: StorageDriver;
  blobs: BlobStore;
  uploads: UploadStore;
  manifests: ManifestStore;
  catalog: RepositoryCatalog;
}

export function openRegistryStorage(driver: StorageDriver, opts: UploadStoreOptions = {}): RegistryStorage {
  const catalog = new RepositoryCatalog(driver);
  const note = (repo: string) => catalog.note(repo);
  const blobs = new BlobStore(driver, { onRepositoryWrite: note });
  return {
    driver,
    blobs,
    uploads: new UploadStore(driver, blobs, opts),
    manifests: new ManifestStore(driver, blobs, note),
    catalog,
  };
}
