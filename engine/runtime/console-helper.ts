// The terminal helper of detached containers (`run -dit`, `attach`): console/console.c, which says
// why it is C. Built on first use with the machine's C compiler into <root>/bin, named by the hash
// of its source so a changed source is built again; built to a temporary name and renamed, so
// concurrent first uses never run a half-written binary.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempPathFor } from '../../util/atomic-file.js';
import { KindedError } from '../../util/errors.js';
import { digestOf } from '../../oci/digest.js';

/** Exit status of `attach` when the user pressed the detach keys (Ctrl-P Ctrl-Q). */
export const DETACHED_STATUS = 3;

/** The socket of a detached terminal container, in its directory (the helper binds it relative to it). */
export const CONSOLE_SOCKET = 'console.sock';

// From the sources (engine/runtime/) and from the build (dist/engine/runtime/): the .c is not compiled by tsc.
const SOURCES = ['./console/console.c', '../../../engine/runtime/console/console.c'].map((p) => fileURLToPath(new URL(p, import.meta.url)));

/** The helper's path under the engine root, built when missing. */
export async function consoleHelper(root: string): Promise<string> {
  const source = SOURCES.find((p) => existsSync(p));
  if (!source) throw new KindedError('unsupported', 'the terminal helper source (engine/runtime/console/console.c) is missing from this installation');
  const code = await readFile(source);
  const bin = join(root, 'bin', `stevedore-console-${digestOf(code).slice('sha256:'.length, 'sha256:'.length + 16)}`);
  if (existsSync(bin)) return bin;
  await mkdir(join(root, 'bin'), { recursive: true, mode: 0o700 });
  const temp = tempPathFor(bin);
  try {
    await new Promise<void>((resolve, reject) =>
      execFile(process.env.CC || 'cc', ['-O2', '-o', temp, source], (err, _stdout, stderr) => {
        if (!err) return resolve();
        if ((err as NodeJS.ErrnoException).code === 'ENOENT')
          return reject(new KindedError('unsupported', 'a terminal for a detached container needs a C compiler to build its helper', { hint: 'install gcc (Debian package gcc), or run without -d' }));
        reject(new KindedError('unsupported', `building the terminal helper failed: ${stderr.trim().split('\n')[0] ?? err.message}`));
      }),
    );
    await rename(temp, bin);
  } finally {
    await rm(temp, { force: true });
  }
  return bin;
}
