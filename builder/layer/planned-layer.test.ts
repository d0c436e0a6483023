import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PlannedLayer, PlannedLayerError } from './planned-layer.js';
import type { TarEntryHeader } from './tar-writer.js';

let view: string;
beforeEach(async () => {
  // What the layers below show: /usr/lib (0750), /lib -> usr/lib, /etc/conf a file, /opt/app with a file in it.
  view = await mkdtemp(join(tmpdir(), 'planned-layer-'));
  await mkdir(join(view, 'usr', 'lib'), { recursive: true });
  await chmod(join(view, 'usr', 'lib'), 0o750);
  await symlink('/usr/lib', join(view, 'lib'));
  await mkdir(join(view, 'etc'));
  await writeFile(join(view, 'etc', 'conf'), 'x');
  await mkdir(join(view, 'opt', 'app'), { recursive: true });
  await writeFile(join(view, 'opt', 'app', 'old'), 'old');
});
afterEach(() => rm(view, { recursive: true, force: true }));

const file = (mode = 0o644): TarEntryHeader => ({ name: '', type: 'file', size: 1, mode, uid: 0, gid: 0, mtime: 100 });
const dir = (mode = 0o755): TarEntryHeader => ({ name: '', type: 'dir', mode, uid: 0, gid: 0, mtime: 100 });
const names = async (l: PlannedLayer) => (await l.entries()).map((e) => `${e.header.name} ${e.header.mode.toString(8)}`);

describe('PlannedLayer', () => {
  it('makes missing destination directories 0755 with the owner given, and copies up those below with their own mode', async () => {
    const l = new PlannedLayer(view, 500);
    const rel = await l.ensureDir('/usr/lib/app/bin', { uid: 7, gid: 8 });
    expect(rel).toBe('usr/lib/app/bin');
    l.put(`${rel}/tool`, { header: file(0o755), file: '/dev/null' });
    expect(await names(l)).toEqual(['usr/ 755', 'usr/lib/ 750', 'usr/lib/app/ 755', 'usr/lib/app/bin/ 755', 'usr/lib/app/bin/tool 755']);
    const made = (await l.entries()).find((e) => e.header.name === 'usr/lib/app/')!.header;
    expect([made.uid, made.gid, made.mtime]).toEqual([7, 8, 500]);
  });

  it('follows symlinks below on the way to the destination, as the container sees them', async () => {
    const l = new PlannedLayer(view, 500);
    expect(await l.ensureDir('/lib/x')).toBe('usr/lib/x');
    expect(await l.isDir('/lib')).toBe(true);
    expect(await l.isDir('/etc/conf')).toBe(false);
  });

  it('refuses a destination through a file', async () => {
    const l = new PlannedLayer(view, 500);
    await expect(l.ensureDir('/etc/conf/d')).rejects.toBeInstanceOf(PlannedLayerError);
    l.put('etc/new', { header: file() });
    await expect(l.ensureDir('/etc/new/d')).rejects.toThrow('/etc/new is not a directory');
  });

  it('an existing directory that only gets nothing adds nothing; a later source replaces an earlier one', async () => {
    const l = new PlannedLayer(view, 500);
    expect(await l.ensureDir('/opt/app')).toBe('opt/app');
    expect(await l.entries()).toEqual([]);
    l.put('opt/app/sub', { header: dir() });
    l.put('opt/app/sub/a', { header: file() });
    l.put('opt/app/sub', { header: file(0o600) });
    expect(await names(l)).toEqual(['opt/ 755', 'opt/app/ 755', 'opt/app/sub 600']);
  });

  it('a directory put where an earlier source hid a directory below is opaque; one over nothing or a file is not', async () => {
    const l = new PlannedLayer(view, 500);
    await l.ensureDir('/opt');
    await l.ensureDir('/etc');
    l.put('opt/app', { header: file() });
    l.put('opt/app', { header: dir() });
    l.put('etc/conf', { header: dir() });
    expect(await names(l)).toEqual(['etc/ 755', 'etc/conf/ 755', 'opt/ 755', 'opt/app/ 755', 'opt/app/.wh..wh..opq 0']);
    // Nothing below shows through the new /opt/app: a child there is made, not copied up.
    expect(await l.isDir('/opt/app/old')).toBe(false);
  });

  it('sorts parents first, names in byte order; SOURCE_DATE_EPOCH clamps times', async () => {
    const l = new PlannedLayer(view, 5000, 1000);
    await l.ensureDir('/a');
    l.put('a-b', { header: file() });
    l.put('a/z', { header: { ...file(), mtime: 2000 } });
    l.put('a/B', { header: file() });
    expect((await l.entries()).map((e) => `${e.header.name} ${e.header.mtime}`)).toEqual(['a/ 1000', 'a/B 100', 'a/z 1000', 'a-b 100']);
  });

  it('copies up the extended attributes of directories below, as overlayfs does (never its own)', async () => {
    execFileSync('setfattr', ['-n', 'user.origin', '-v', 'base-image', join(view, 'usr', 'lib')]);
    const l = new PlannedLayer(view, 500);
    const rel = await l.ensureDir('/usr/lib/app');
    l.put(`${rel}/tool`, { header: file(), file: '/dev/null' });
    const byName = new Map((await l.entries()).map((e) => [e.header.name, e.header]));
    expect(byName.get('usr/lib/')?.xattrs?.get('user.origin')?.toString()).toBe('base-image');
    expect(byName.get('usr/')?.xattrs).toBeUndefined();
    expect(byName.get('usr/lib/app/')?.xattrs).toBeUndefined();
  });
});
