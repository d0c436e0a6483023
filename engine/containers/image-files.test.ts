import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keepImageFiles, readImageFiles } from './image-files.js';

let dir: string;
let layers: string[];
const chain = (c: string) => c.repeat(64);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'image-files-'));
  layers = [join(dir, 'snapshots', chain('a'), 'fs'), join(dir, 'snapshots', chain('b'), 'fs')];
  for (const l of layers) await mkdir(l, { recursive: true });
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('image files kept beside the top snapshot', () => {
  it('are read back as kept, with the working directories found merged', async () => {
    expect(await readImageFiles(layers)).toBeUndefined();
    await keepImageFiles(layers, { passwd: 'root:x:0:0::/root:/bin/sh\n', group: 'root:x:0:\n' }, undefined);
    await keepImageFiles(layers, { passwd: 'root:x:0:0::/root:/bin/sh\n', group: 'root:x:0:\n' }, '/app');
    await keepImageFiles(layers, { passwd: 'root:x:0:0::/root:/bin/sh\n', group: 'root:x:0:\n' }, '/srv');
    expect(await readImageFiles(layers)).toEqual({ passwd: 'root:x:0:0::/root:/bin/sh\n', group: 'root:x:0:\n', dirs: ['/app', '/srv'] });
    // The stack's top snapshot holds them (removed with it); a stack of its lower layers only knows nothing.
    expect(JSON.parse(await readFile(join(dir, 'snapshots', chain('b'), 'container-files.json'), 'utf8')).dirs).toEqual(['/app', '/srv']);
    expect(await readImageFiles(layers.slice(0, 1))).toBeUndefined();
  });

  it('are nothing when the file is torn or malformed, and never kept for layers outside a snapshot store', async () => {
    await writeFile(join(dir, 'snapshots', chain('b'), 'container-files.json'), '{"passwd": "ro');
    expect(await readImageFiles(layers)).toBeUndefined();
    await writeFile(join(dir, 'snapshots', chain('b'), 'container-files.json'), '{"passwd": 1, "group": "", "dirs": []}');
    expect(await readImageFiles(layers)).toBeUndefined();
    const elsewhere = [join(dir, 'layer-dir')];
    await mkdir(elsewhere[0]!);
    await keepImageFiles(elsewhere, { passwd: '', group: '' }, '/');
    expect(await readImageFiles(elsewhere)).toBeUndefined();
  });
});
