// Random bytes without loading node:crypto (loading it costs `stevedore run`'s start-up 6-10 ms, more
// under load): the kernel's generator, read directly. For names of containers, temporary files and
// leases, which must not collide, not for keys.
import { closeSync, openSync, readSync } from 'node:fs';

export function randomHex(bytes: number): string {
  const buf = Buffer.alloc(bytes);
  const fd = openSync('/dev/urandom', 'r');
  try {
    let n = 0;
    while (n < bytes) n += readSync(fd, buf, n, bytes - n, null);
  } finally {
    closeSync(fd);
  }
  return buf.toString('hex');
}
