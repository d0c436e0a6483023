// Random bytes without loading node:crypto (loading it costs `stevedore run`'s start-up 6-10 ms, more
// under load): the kernel's generator, read directly, 4 KiB at a time (a server naming many
// temporary files reads /dev/urandom once per ~500 names, not once per name). For names of
// containers, temporary files and leases, which must not collide, not for keys.
// node:fs from process.getBuiltinModule, not an ESM import: that builds node:fs's export facade by
// reading every export, whose `promises` getter loads node:fs/promises and readline's internals
// (~3 ms of `ps`, which loads this module with the container records but names nothing).
const { closeSync, openSync, readSync } = process.getBuiltinModule('node:fs');

const POOL = 4096;
let pool = Buffer.alloc(0);
let used = 0;

function refill(bytes: number): void {
  pool = Buffer.alloc(Math.max(POOL, bytes));
  const fd = openSync('/dev/urandom', 'r');
  try {
    let n = 0;
    while (n < pool.length) n += readSync(fd, pool, n, pool.length - n, null);
  } finally {
    closeSync(fd);
  }
  used = 0;
}

export function randomHex(bytes: number): string {
  if (used + bytes > pool.length) refill(bytes);
  const hex = pool.toString('hex', used, used + bytes);
  // Never handed out twice.
  pool.fill(0, used, used + bytes);
  used += bytes;
  return hex;
}
