// podman as the tests run it: its own storage (vfs), auth file and registries configuration under
// a directory of the test's, nothing of the host's; never a container (rlimits forbid it here).
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface PodmanRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `podman ARGS` with its state under `dir` (auth in dir/podman-auth.json); `input` on stdin. */
export async function podman(dir: string, args: string[], input?: string): Promise<PodmanRun> {
  const root = join(dir, 'podman');
  const registries = join(dir, 'registries.conf');
  await mkdir(dir, { recursive: true });
  await writeFile(registries, 'unqualified-search-registries = []\n');
  // podman refuses an auth file that does not exist; one `podman login` wrote is kept.
  await writeFile(join(dir, 'podman-auth.json'), '{}', { flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  return new Promise((resolve) => {
    const child = spawn(
      'podman',
      ['--root', join(root, 'root'), '--runroot', join(root, 'run'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', '--events-backend', 'file', ...args],
      { env: { ...process.env, REGISTRY_AUTH_FILE: join(dir, 'podman-auth.json'), CONTAINERS_REGISTRIES_CONF: registries }, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', (err) => resolve({ code: 127, stdout, stderr: err.message }));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}
