// Shared set-up for the access-control tests: users in an htpasswd file, a config file, the real
// `stevedore serve` (compiled CLI) started on it, and the CLI as a client.
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { stringify } from 'yaml';
import { CLI, startStevedore, type StevedoreProcess } from '../helpers/stevedore-process.js';

export const USERS = {
  alice: 'alice-Pa55word',
  bob: 'bob-Pa55word',
  root: 'root-Pa55word',
} as const;

/** htpasswd lines as `htpasswd -B` (Apache, `$2y$`) and other tools (`$2b$`) write them; cost 4 keeps tests quick. */
export function htpasswdText(users: Record<string, string> = USERS): string {
  return Object.entries(users)
    .map(([u, p], i) => `${u}:${bcrypt.hashSync(p, 4).replace(/^\$2b\$/, i % 2 === 0 ? '$2y$' : '$2b$')}`)
    .join('\n') + '\n';
}

/** The access rules most tests use: personal namespaces, a team, a public area, an admin. */
export const RULES = {
  groups: { ci: ['bob'] },
  admins: ['root'],
  access: [
    { repositories: ['${user}/**'], users: ['*'], actions: ['pull', 'push', 'delete'] },
    { repositories: ['team/*'], groups: ['ci'], actions: ['pull', 'push'] },
    { repositories: ['team/*'], users: ['alice'], actions: ['pull'] },
    { repositories: ['public/*'], anonymous: true, actions: ['pull'] },
  ],
};

export interface AuthEnv {
  dir: string;
  server: StevedoreProcess;
  configPath: string;
}

export async function startWithConfig(config: Record<string, unknown>, opts: { dir?: string; env?: NodeJS.ProcessEnv } = {}): Promise<AuthEnv> {
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'stevedore-auth-')));
  const configPath = join(dir, 'config.yml');
  await writeFile(configPath, stringify(config));
  const server = await startStevedore({ dataDir: join(dir, 'data'), args: ['--config', configPath], env: { STEVEDORE_LOG_LEVEL: 'info', ...opts.env } });
  return { dir, server, configPath };
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the compiled CLI with its own Docker config directory. */
export function cli(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; dockerConfig: string }): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, DOCKER_CONFIG: opts.dockerConfig, REGISTRY_AUTH_FILE: '/nonexistent/auth.json', ...opts.env }, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end(opts.input ?? '');
  });
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** Parses `Bearer realm="…",service="…",scope="…"`. */
export function challengeParams(header: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  out.scheme = header.split(' ')[0]!;
  for (const m of header.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) out[m[1]!] = m[2]!;
  return out;
}

/** Polls until `check` passes (generous: the machine is shared). */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 30_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  }
}
