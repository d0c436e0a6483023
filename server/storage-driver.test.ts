// The storage section of the configuration: `storage.driver: s3` and `storage.s3`, from a file
// and from STEVEDORE_STORAGE_S3_* variables, and the driver built from it.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FilesystemDriver } from '../storage/index.js';
import { S3Driver } from '../storage/s3-driver.js';
import { ConfigError, loadConfig } from './config.js';
import { createStorageDriver, describeStorage } from './storage-driver.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'config-s3-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function file(text: string): Promise<string> {
  const p = join(dir, `${Math.random().toString(36).slice(2)}.yml`);
  await writeFile(p, text);
  return p;
}

describe('S3 storage configuration', () => {
  it('defaults to the filesystem; the s3 section has safe defaults (no redirects, checksums only when required)', async () => {
    const c = loadConfig();
    expect(c.storage.driver).toBe('filesystem');
    expect(await createStorageDriver(c)).toBeInstanceOf(FilesystemDriver);
    expect(c.storage.s3).toMatchObject({
      region: 'us-east-1',
      endpoint: '',
      forcePathStyle: false,
      checksums: 'WHEN_REQUIRED',
      chunkSize: 10 * 1024 * 1024,
      redirect: { enabled: false, expiry: 20 * 60 * 1000 },
    });
  });

  it('reads the s3 section from a file, with the bucket and keys from the environment', async () => {
    const f = await file(
      [
        'storage:',
        '  driver: s3',
        '  s3:',
        '    region: eu-west-3',
        '    endpoint: http://127.0.0.1:7480',
        '    forcePathStyle: true',
        '    rootDirectory: registry/v2',
        '    serverSideEncryption: AES256',
        '    storageClass: STANDARD_IA',
        '    chunkSize: 33554432',
        '    redirect:',
        '      enabled: true',
        '      expiry: 5m',
        '',
      ].join('\n'),
    );
    const c = loadConfig({
      file: f,
      env: {
        STEVEDORE_STORAGE_S3_BUCKET: 'images',
        STEVEDORE_STORAGE_S3_ACCESSKEYID: 'AKID',
        STEVEDORE_STORAGE_S3_SECRETACCESSKEY: 'secret',
      },
    });
    expect(c.storage.s3).toMatchObject({
      bucket: 'images',
      region: 'eu-west-3',
      endpoint: 'http://127.0.0.1:7480',
      forcePathStyle: true,
      rootDirectory: 'registry/v2',
      accessKeyId: 'AKID',
      secretAccessKey: 'secret',
      serverSideEncryption: 'AES256',
      storageClass: 'STANDARD_IA',
      chunkSize: 32 * 1024 * 1024,
      redirect: { enabled: true, expiry: 5 * 60 * 1000 },
    });
    const driver = await createStorageDriver(c);
    expect(driver).toBeInstanceOf(S3Driver);
    expect((driver as S3Driver).bucket).toBe('images');
    const described = JSON.stringify(describeStorage(c));
    expect(described).toContain('"bucket":"images"');
    expect(described).not.toContain('secret');
    (driver as S3Driver).destroy();
  });

  it('requires a bucket, and both keys or neither, naming the key', () => {
    expect(() => loadConfig({ overrides: { storage: { driver: 's3' } } })).toThrow(/storage\.s3\.bucket: is required/);
    expect(() => loadConfig({ overrides: { storage: { driver: 's3', s3: { bucket: 'b', accessKeyId: 'AKID' } } } })).toThrow(
      /accessKeyId and secretAccessKey go together/,
    );
    // Without keys: the SDK's default credential chain.
    const c = loadConfig({ overrides: { storage: { driver: 's3', s3: { bucket: 'b' } } } });
    expect(describeStorage(c)).toMatchObject({ storage: 's3', credentials: 'default chain', endpoint: 'AWS' });
  });

  it('rejects bad values with the key in the message', async () => {
    const cases: [string, RegExp][] = [
      ['storage:\n  s3:\n    chunkSize: 1048576\n', /storage\.s3\.chunkSize/],
      ['storage:\n  s3:\n    endpoint: ftp://x\n', /storage\.s3\.endpoint/],
      ['storage:\n  s3:\n    serverSideEncryption: rot13\n', /storage\.s3\.serverSideEncryption/],
      ['storage:\n  s3:\n    redirect:\n      expiry: 30d\n', /storage\.s3\.redirect\.expiry/],
      ['storage:\n  s3:\n    bucketName: x\n', /unknown key storage\.s3\.bucketName/],
      ['storage:\n  driver: gcs\n', /storage\.driver/],
    ];
    for (const [yaml, message] of cases) {
      const f = await file(yaml);
      let err: unknown;
      try {
        loadConfig({ file: f });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(message);
    }
  });
});
