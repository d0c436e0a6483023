// Hostile layers: nothing a layer contains may create or change anything outside the directory it
// is unpacked into. Each case unpacks into dir/layer with a sentinel directory beside it (the
// "outside"), and checks what a user would: the error, and that nothing appeared or changed outside.
import { lstat, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyLayer, LayerError } from '../../engine/unpack/apply-layer.js';
import { startStevedore, type StevedoreProcess } from '../helpers/stevedore-process.js';
import { pushImage, stevedore, tempDir, removeTempDirs } from './engine-fixtures.js';
import { layerTar, testImage, type Entry } from './layer-fixtures.js';

afterAll(removeTempDirs);

interface Sandbox {
  layer: string;
  outside: string;
}

async function sandbox(): Promise<Sandbox> {
  const base = await tempDir('stevedore-hostile-');
  const layer = join(base, 'a', 'b', 'layer');
  const outside = join(base, 'outside');
  await mkdir(layer, { recursive: true });
  await mkdir(outside);
  await writeFile(join(outside, 'victim'), 'original\n');
  return { layer, outside };
}

async function outsideUntouched(s: Sandbox): Promise<void> {
  expect((await readdir(s.outside)).sort()).toEqual(['victim']);
  expect(await readFile(join(s.outside, 'victim'), 'utf8')).toBe('original\n');
  // ../.. of the layer (base/a) holds only the way down to it.
  expect(await readdir(join(s.layer, '..', '..'))).toEqual(['b']);
  expect(await readdir(join(s.layer, '..'))).toEqual(['layer']);
}

async function apply(s: Sandbox, entries: Entry[]) {
  return applyLayer(Readable.from([layerTar(entries)]), s.layer);
}

describe('hostile layers are refused or contained', () => {
  const refused: [string, (s: Sandbox) => Entry[], RegExp][] = [
    ['a file path with ..', () => [{ type: 'file', name: '../../../outside/victim', content: 'pwned' }], /outside the layer/],
    ['a directory path with .. in the middle', () => [{ type: 'dir', name: 'x/../../../outside/newdir' }], /outside the layer/],
    ['a file through a symlink to an absolute path outside', (s) => [{ type: 'symlink', name: 'evil', target: s.outside }, { type: 'file', name: 'evil/victim', content: 'pwned' }], /symlink/],
    ['a file through a relative symlink climbing out', () => [{ type: 'symlink', name: 'up', target: '../../../outside' }, { type: 'file', name: 'up/new', content: 'pwned' }], /symlink/],
    ['a directory through a symlinked parent', (s) => [{ type: 'symlink', name: 'evil', target: s.outside }, { type: 'dir', name: 'evil/sub' }], /symlink/],
    ['a symlink through a symlinked parent', (s) => [{ type: 'symlink', name: 'evil', target: s.outside }, { type: 'symlink', name: 'evil/link', target: '/etc/passwd' }], /symlink/],
    ['a device node through a symlinked parent', (s) => [{ type: 'symlink', name: 'evil', target: s.outside }, { type: 'char', name: 'evil/null', major: 1, minor: 3 }], /symlink/],
    ['a whiteout through a symlinked parent', (s) => [{ type: 'symlink', name: 'evil', target: s.outside }, { type: 'file', name: 'evil/.wh.victim' }], /symlink/],
    ['an opaque marker through a symlinked parent', (s) => [{ type: 'symlink', name: 'evil', target: s.outside }, { type: 'file', name: 'evil/.wh..wh..opq' }], /symlink/],
    ['a hardlink to a path with ..', () => [{ type: 'hardlink', name: 'hl', target: '../../../outside/victim' }], /outside the layer/],
    ['a hardlink to an absolute host path', () => [{ type: 'hardlink', name: 'hl', target: '/etc/passwd' }], /not in this layer/],
    ['a hardlink through a symlink', (s) => [{ type: 'symlink', name: 'evil', target: s.outside }, { type: 'hardlink', name: 'hl', target: 'evil/victim' }], /not in this layer/],
    ['a hardlink made through a symlinked parent', (s) => [{ type: 'file', name: 'f', content: 'x' }, { type: 'symlink', name: 'evil', target: s.outside }, { type: 'hardlink', name: 'evil/hl', target: 'f' }], /symlink/],
  ];
  for (const [what, entries, message] of refused) {
    it(`refuses ${what}`, async () => {
      const s = await sandbox();
      const err = await apply(s, entries(s)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LayerError);
      expect((err as Error).message).toMatch(message);
      await outsideUntouched(s);
    });
  }

  it('keeps absolute entry paths inside the layer', async () => {
    const s = await sandbox();
    await apply(s, [
      { type: 'file', name: `/${'x'}-abs.txt`, content: 'inside' },
      { type: 'dir', name: '/etc/' },
      { type: 'file', name: '//etc//stevedore-abs-test', content: 'inside too' },
    ]);
    expect(await readFile(join(s.layer, 'x-abs.txt'), 'utf8')).toBe('inside');
    expect(await readFile(join(s.layer, 'etc/stevedore-abs-test'), 'utf8')).toBe('inside too');
    await expect(lstat('/etc/stevedore-abs-test')).rejects.toThrow(/ENOENT/);
    await outsideUntouched(s);
  });

  it('replaces a symlink by a later file entry instead of writing through it', async () => {
    const s = await sandbox();
    await apply(s, [
      { type: 'symlink', name: 'victim', target: join(s.outside, 'victim') },
      { type: 'file', name: 'victim', content: 'inside' },
      { type: 'symlink', name: 'dir', target: s.outside },
      { type: 'dir', name: 'dir' },
      { type: 'file', name: 'dir/victim', content: 'inside as well' },
    ]);
    expect((await lstat(join(s.layer, 'victim'))).isFile()).toBe(true);
    expect(await readFile(join(s.layer, 'victim'), 'utf8')).toBe('inside');
    expect(await readFile(join(s.layer, 'dir/victim'), 'utf8')).toBe('inside as well');
    await outsideUntouched(s);
  });

  it('does not follow a symlink planted before unpacking when setting attributes at the end', async () => {
    const s = await sandbox();
    // A symlink a hostile layer leaves where a later whiteout or xattr would apply.
    await apply(s, [
      { type: 'file', name: 'f', content: 'x', xattrs: { 'user.a': 'b' } },
      { type: 'symlink', name: 'f', target: join(s.outside, 'victim') },
      { type: 'symlink', name: 'gone', target: join(s.outside, 'victim') },
      { type: 'file', name: '.wh.gone' },
    ]);
    expect((await lstat(join(s.layer, 'f'))).isSymbolicLink()).toBe(true);
    await outsideUntouched(s);
  });

  it('drops overlayfs attributes a layer carries itself', async () => {
    const s = await sandbox();
    await apply(s, [{ type: 'dir', name: 'd', xattrs: { 'trusted.overlay.redirect': '/etc', 'trusted.overlay.opaque': 'y', 'user.overlay.opaque': 'y', 'user.ok': 'kept' } }]);
    const { getXattr } = await import('./engine-fixtures.js');
    expect(await getXattr(join(s.layer, 'd'), 'trusted.overlay.redirect')).toBeUndefined();
    expect(await getXattr(join(s.layer, 'd'), 'trusted.overlay.opaque')).toBeUndefined();
    expect(await getXattr(join(s.layer, 'd'), 'user.overlay.opaque')).toBeUndefined();
    expect((await getXattr(join(s.layer, 'd'), 'user.ok'))?.toString()).toBe('kept');
  });

  it('a pre-existing symlink in the target directory is not followed by file creation', async () => {
    // The snapshot directory is fresh in practice; this checks O_NOFOLLOW|O_EXCL on its own.
    const s = await sandbox();
    await symlink(join(s.outside, 'victim'), join(s.layer, 'planted'));
    await apply(s, [{ type: 'file', name: 'planted', content: 'inside' }]);
    expect((await lstat(join(s.layer, 'planted'))).isFile()).toBe(true);
    await outsideUntouched(s);
  });
});

describe('a hostile image pulled with stevedore pull', () => {
  let registry: StevedoreProcess;
  beforeAll(async () => {
    registry = await startStevedore();
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('fails with a one-line message and leaves no snapshot and nothing outside', async () => {
    const outside = await tempDir('stevedore-outside-');
    const image = testImage([
      [{ type: 'file', name: 'ok.txt', content: 'fine' }],
      [
        { type: 'symlink', name: 'evil', target: outside },
        { type: 'file', name: 'evil/pwned', content: 'pwned' },
      ],
    ]);
    await pushImage(registry.host, 'hostile/app', 'v1', image);
    const root = await tempDir('stevedore-root-');
    const r = await stevedore(['--root', root, 'pull', `${registry.host}/hostile/app:v1`]);
    expect(r.code).toBe(1);
    const lastLine = r.stderr.trim().split('\n').pop()!;
    expect(lastLine).toMatch(/^stevedore: .*\/hostile\/app:v1: layer sha256:[a-f0-9]{64}: "evil\/pwned": its parent evil is a symlink/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(await readdir(outside)).toEqual([]);
    const images = await stevedore(['--root', root, 'images', '--json']);
    expect(JSON.parse(images.stdout)).toEqual([]);
    // Only the good layer is a snapshot; the hostile one left nothing behind.
    const snaps = (await readdir(join(root, 'snapshots'))).filter((n) => /^[a-f0-9]{64}$/.test(n));
    expect(snaps).toHaveLength(1);
    expect(await readdir(join(root, 'snapshots', 'tmp'))).toEqual([]);
  });
});
