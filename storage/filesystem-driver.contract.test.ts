// The storage driver contract against the filesystem driver.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeDriverContract, MiB } from '../test/helpers/storage-driver-contract.js';
import { FilesystemDriver } from './filesystem-driver.js';

describeDriverContract('filesystem', () => ({
  partSize: 5 * MiB,
  async fresh() {
    const root = await mkdtemp(join(tmpdir(), 'fsdriver-contract-'));
    return {
      open: () => new FilesystemDriver({ rootDirectory: root }),
      cleanup: () => rm(root, { recursive: true, force: true }),
    };
  },
}));
