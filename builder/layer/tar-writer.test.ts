import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readTar, type TarHeader } from '../../engine/unpack/tar-reader.js';
import { entryHeader, padding, TAR_END, type TarEntryHeader } from './tar-writer.js';

function archive(entries: { h: TarEntryHeader; data?: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    parts.push(entryHeader(e.h));
    if (e.data) parts.push(e.data, Buffer.alloc(padding(e.data.length)));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

async function read(buf: Buffer): Promise<(TarHeader & { body: string })[]> {
  const out: (TarHeader & { body: string })[] = [];
  await readTar(Readable.from([buf]), async (h, body) => {
    const chunks: Buffer[] = [];
    for await (const c of body as AsyncIterable<Buffer>) chunks.push(c);
    out.push({ ...h, body: Buffer.concat(chunks).toString('utf8') });
  });
  return out;
}

describe('tar-writer', () => {
  const long = `${'deep/'.repeat(30)}file-with-a-long-name.txt`;
  const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0xff, 0xfe, 0x00, 0x00]);
  const entries = [
    { h: { name: 'dir/', type: 'dir' as const, mode: 0o750, uid: 1, gid: 2, mtime: 1700000000 } },
    { h: { name: 'dir/f.txt', type: 'file' as const, mode: 0o4755, uid: 1000, gid: 10, mtime: 1700000001, size: 5, xattrs: new Map([['security.capability', cap], ['user.note', Buffer.from('hi')]]) }, data: Buffer.from('hello') },
    { h: { name: long, type: 'file' as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 3 }, data: Buffer.from('abc') },
    { h: { name: 'dir/link', type: 'symlink' as const, linkname: `../${'x'.repeat(150)}`, mode: 0o777, uid: 0, gid: 0, mtime: 0 } },
    { h: { name: 'dir/hard', type: 'link' as const, linkname: 'dir/f.txt', mode: 0o644, uid: 0, gid: 0, mtime: 0 } },
    { h: { name: 'dev/null', type: 'char' as const, mode: 0o666, uid: 0, gid: 0, mtime: 0, devmajor: 1, devminor: 3 } },
    { h: { name: 'big-ids', type: 'fifo' as const, mode: 0o600, uid: 4_000_000, gid: 3_000_000, mtime: 0 } },
  ];

  it('writes what the engine\'s tar reader reads back: long names and links, binary xattrs, ids past ustar', async () => {
    const got = await read(archive(entries));
    expect(got.map((e) => [e.name, e.type])).toEqual([
      ['dir/', 'directory'],
      ['dir/f.txt', 'file'],
      [long, 'file'],
      ['dir/link', 'symlink'],
      ['dir/hard', 'link'],
      ['dev/null', 'character-device'],
      ['big-ids', 'fifo'],
    ]);
    expect(got[1]).toMatchObject({ mode: 0o4755, uid: 1000, gid: 10, body: 'hello' });
    expect(got[1]!.xattrs.get('security.capability')).toEqual(cap);
    expect(got[1]!.xattrs.get('user.note')?.toString()).toBe('hi');
    expect(got[2]!.body).toBe('abc');
    expect(got[3]!.linkname).toBe(`../${'x'.repeat(150)}`);
    expect(got[6]).toMatchObject({ uid: 4_000_000, gid: 3_000_000 });
  });

  it('is a valid archive for GNU tar, byte-identical when written twice', () => {
    const a = archive(entries);
    expect(a.equals(archive(entries))).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'tarw-'));
    try {
      writeFileSync(join(dir, 'a.tar'), a);
      const list = execFileSync('tar', ['--numeric-owner', '-tvf', join(dir, 'a.tar')], { encoding: 'utf8' });
      expect(list).toContain(long);
      expect(list).toMatch(/-rwsr-xr-x 1000\/10\s+5 2023-11-14 22:13 dir\/f.txt/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
