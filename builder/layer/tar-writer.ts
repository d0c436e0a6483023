// A minimal POSIX tar (ustar + PAX extended headers) writer for layers. Our own rather than
// tar-stream's packer: PAX values here are bytes (binary xattrs such as security.capability
// survive), and every field is under our control, so the same tree always gives the same bytes
// (reproducible builds need that).

export type TarType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarEntryHeader {
  /** Slash-separated, relative, no leading `./`; directories end with `/`. */
  name: string;
  type: TarType;
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  size?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes (SCHILY.xattr.NAME). */
  xattrs?: Map<string, Buffer>;
}

const TYPEFLAG: Record<TarType, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };
const MAX_OCTAL7 = 0o7777777;
const MAX_SIZE = 0o77777777777;

function octal(buf: Buffer, off: number, len: number, value: number): void {
  const s = value.toString(8).padStart(len - 1, '0');
  buf.write(`${s}\0`, off, len, 'ascii');
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), 'ascii'), body]);
}

function ustar(h: { name: string; typeflag: string; mode: number; uid: number; gid: number; size: number; mtime: number; linkname: string; devmajor: number; devminor: number }): Buffer {
  const b = Buffer.alloc(512);
  let name = h.name;
  let prefix = '';
  if (Buffer.byteLength(name) > 100) {
    // Only reached for names a PAX `path` record also carries: a truncated fallback.
    name = name.slice(-100);
  }
  b.write(name, 0, 100, 'utf8');
  octal(b, 100, 8, h.mode & 0o7777);
  octal(b, 108, 8, Math.min(h.uid, MAX_OCTAL7));
  octal(b, 116, 8, Math.min(h.gid, MAX_OCTAL7));
  octal(b, 124, 12, Math.min(h.size, MAX_SIZE));
  octal(b, 136, 12, Math.max(0, Math.min(h.mtime, MAX_SIZE)));
  b.write('        ', 148, 8, 'ascii');
  b.write(h.typeflag, 156, 1, 'ascii');
  b.write(h.linkname.slice(0, 100), 157, 100, 'utf8');
  b.write('ustar\0', 257, 6, 'ascii');
  b.write('00', 263, 2, 'ascii');
  octal(b, 329, 8, h.devmajor);
  octal(b, 337, 8, h.devminor);
  b.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return b;
}

/** The header block(s) of one entry: a PAX header first when a field does not fit ustar. */
export function entryHeader(e: TarEntryHeader): Buffer {
  const size = e.type === 'file' ? (e.size ?? 0) : 0;
  const records: Buffer[] = [];
  if (Buffer.byteLength(e.name) > 100 || /[^\x20-\x7e]/.test(e.name)) records.push(paxRecord('path', Buffer.from(e.name, 'utf8')));
  const linkname = e.linkname ?? '';
  if (Buffer.byteLength(linkname) > 100 || /[^\x20-\x7e]/.test(linkname)) records.push(paxRecord('linkpath', Buffer.from(linkname, 'utf8')));
  if (e.uid > MAX_OCTAL7) records.push(paxRecord('uid', Buffer.from(String(e.uid))));
  if (e.gid > MAX_OCTAL7) records.push(paxRecord('gid', Buffer.from(String(e.gid))));
  if (size > MAX_SIZE) records.push(paxRecord('size', Buffer.from(String(size))));
  for (const [k, v] of [...(e.xattrs ?? new Map<string, Buffer>())].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) records.push(paxRecord(`SCHILY.xattr.${k}`, v));
  const main = ustar({
    name: e.name,
    typeflag: TYPEFLAG[e.type],
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    size,
    mtime: e.mtime,
    linkname,
    devmajor: e.devmajor ?? 0,
    devminor: e.devminor ?? 0,
  });
  if (records.length === 0) return main;
  const pax = Buffer.concat(records);
  const paxName = `PaxHeaders.0/${e.name.replace(/\/$/, '').split('/').pop() ?? ''}`.slice(0, 100);
  const head = ustar({ name: paxName, typeflag: 'x', mode: 0o644, uid: 0, gid: 0, size: pax.length, mtime: e.mtime, linkname: '', devmajor: 0, devminor: 0 });
  return Buffer.concat([head, pax, Buffer.alloc(padding(pax.length)), main]);
}

/** Zero bytes after `size` bytes of data to reach the next 512-byte block. */
export function padding(size: number): number {
  return (512 - (size % 512)) % 512;
}

/** The end of an archive: two zero blocks. */
export const TAR_END = Buffer.alloc(1024);
