// Picks and configures the storage driver named in the configuration.
import { randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FilesystemDriver, type StorageDriver } from '../storage/index.js';
import type { Config } from './config.js';

/** The AWS SDK is loaded only for the s3 driver: it costs start-up time and ~20 MB of memory. */
export async function createStorageDriver(config: Config): Promise<StorageDriver> {
  switch (config.storage.driver) {
    case 'filesystem': {
      const root = resolve(config.storage.filesystem.rootDirectory);
      await checkWritableDirectory(root);
      return new FilesystemDriver({ rootDirectory: root });
    }
    case 's3': {
      const s3 = config.storage.s3;
      const { S3Driver } = await import('../storage/s3-driver.js');
      return new S3Driver({
        bucket: s3.bucket,
        region: s3.region,
        endpoint: s3.endpoint || undefined,
        forcePathStyle: s3.forcePathStyle,
        // Without static keys the SDK's default chain applies (env, shared config, SSO, instance/task role).
        credentials: s3.accessKeyId
          ? { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, ...(s3.sessionToken ? { sessionToken: s3.sessionToken } : {}) }
          : undefined,
        rootDirectory: s3.rootDirectory,
        serverSideEncryption: s3.serverSideEncryption || undefined,
        kmsKeyId: s3.kmsKeyId || undefined,
        storageClass: s3.storageClass || undefined,
        checksums: s3.checksums,
        chunkSize: s3.chunkSize,
        redirectExpirySeconds: s3.redirect.enabled ? Math.round(s3.redirect.expiry / 1000) : undefined,
      });
    }
  }
}

/** What to log about the storage at start (no secrets). */
export function describeStorage(config: Config): Record<string, unknown> {
  switch (config.storage.driver) {
    case 'filesystem':
      return { storage: 'filesystem', root: resolve(config.storage.filesystem.rootDirectory) };
    case 's3': {
      const s3 = config.storage.s3;
      return {
        storage: 's3',
        bucket: s3.bucket,
        region: s3.region,
        endpoint: s3.endpoint || 'AWS',
        rootDirectory: s3.rootDirectory,
        credentials: s3.accessKeyId ? 'static' : 'default chain',
        redirect: s3.redirect.enabled,
      };
    }
  }
}

const REASONS: Record<string, string> = {
  EEXIST: 'it is not a directory',
  ENOTDIR: 'it is not a directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
};

/**
 * The storage directory exists (or is made) and takes a file: checked at start so that an
 * unusable --data-dir stops the server with one line, not a server answering every push 500.
 */
export async function checkWritableDirectory(root: string): Promise<void> {
  const probe = join(root, `.tmp-write-check-${randomUUID()}`);
  try {
    await mkdir(root, { recursive: true });
    await writeFile(probe, '');
    await rm(probe);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    throw new Error(`storage directory ${root} cannot be used: ${REASONS[code] ?? (err as Error).message}`);
  }
}
