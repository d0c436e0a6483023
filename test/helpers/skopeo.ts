// Runs skopeo (containers/image) as an external client for interop tests: captured output, a hard
// timeout, no retries, explicit credentials (or none) and no signature policy file, so the host's
// container configuration cannot change what the tests see. Writes no files of its own.
import { spawn } from 'node:child_process';

export class SkopeoError extends Error {
  constructor(
    readonly args: string[],
    readonly code: number | null,
    readonly signal: NodeJS.Signals | null,
    readonly stdout: string,
    readonly stderr: string,
    timedOut: boolean,
  ) {
    super(
      `skopeo ${redact(args).join(' ')} ${timedOut ? 'timed out' : `failed (exit ${code ?? signal})`}` +
        `\n--- stderr ---\n${stderr.trim()}` +
        (stdout.trim() ? `\n--- stdout ---\n${stdout.trim().slice(0, 4000)}` : ''),
    );
    this.name = 'SkopeoError';
  }
}

/** `--creds user:secret` → `--creds user:***` for messages. */
function redact(args: string[]): string[] {
  return args.map((a, i) => (/^--(src-|dest-)?creds$/.test(args[i - 1] ?? '') ? a.replace(/:.*/, ':***') : a));
}

export interface SkopeoResult {
  stdout: Buffer;
  stderr: string;
}

export interface SkopeoOptions {
  /** Kill skopeo after this long (default 120 s; the vitest timeouts are larger). */
  timeoutMs?: number;
  /** Global flags placed before the command, e.g. ['--override-arch', 'arm64']. */
  globalArgs?: string[];
}

/** Runs `skopeo <global flags> ARGS`; throws SkopeoError (with stderr) on non-zero exit or timeout. */
export async function skopeo(args: string[], opts: SkopeoOptions = {}): Promise<SkopeoResult> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const fullArgs = [
    // No signature policy file: the host's /etc/containers/policy.json must not matter.
    '--insecure-policy',
    '--command-timeout',
    `${Math.ceil(timeoutMs / 1000)}s`,
    ...(opts.globalArgs ?? []),
    ...args,
  ];
  const child = spawn('skopeo', fullArgs, {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Every registry command gets explicit credentials or --*-no-creds, so no auth file is read;
    // point at a missing one anyway so a user's ~/.docker/config.json can never leak in.
    env: { ...process.env, REGISTRY_AUTH_FILE: '/nonexistent/stevedore-tests/auth.json' },
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  let timedOut = false;
  // Backstop for --command-timeout (which does not cover every phase of every command).
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs + 10_000);
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', (e: NodeJS.ErrnoException) =>
        reject(e.code === 'ENOENT' ? new Error('skopeo is not installed (the Debian package skopeo; `npm test` installs it)') : e),
      );
      child.once('close', (c, s) => resolve([c, s]));
    });
    const stdout = Buffer.concat(out);
    const stderr = Buffer.concat(err).toString('utf8');
    if (code !== 0 || timedOut) throw new SkopeoError(args, code, signal, stdout.toString('utf8'), stderr, timedOut);
    return { stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

export interface Credentials {
  username: string;
  password: string;
}

export interface CopyOptions extends SkopeoOptions {
  /** --all: copy every image of a list (index), not just the one for this platform. */
  all?: boolean;
  /** --preserve-digests: fail rather than change a manifest (default true: interop tests check digests). */
  preserveDigests?: boolean;
  /** --format: oci, v2s2 (v2s1 is not a thing Stevedore accepts). */
  format?: 'oci' | 'v2s2';
  srcCreds?: Credentials;
  destCreds?: Credentials;
  extraArgs?: string[];
}

function isRegistryRef(ref: string): boolean {
  return ref.startsWith('docker://');
}

/** `skopeo copy SRC DEST` (refs with transport, e.g. `oci:/dir:tag`, `docker://host/repo:tag`, `dir:/dir`). */
export async function skopeoCopy(src: string, dest: string, opts: CopyOptions = {}): Promise<SkopeoResult> {
  const args = ['copy', '--retry-times', '0'];
  if (opts.all) args.push('--all');
  if (opts.preserveDigests ?? true) args.push('--preserve-digests');
  if (opts.format) args.push('--format', opts.format);
  // Our registries are plain HTTP on loopback.
  if (isRegistryRef(src)) {
    args.push('--src-tls-verify=false');
    if (opts.srcCreds) args.push('--src-creds', `${opts.srcCreds.username}:${opts.srcCreds.password}`);
    else args.push('--src-no-creds');
  }
  if (isRegistryRef(dest)) {
    args.push('--dest-tls-verify=false');
    if (opts.destCreds) args.push('--dest-creds', `${opts.destCreds.username}:${opts.destCreds.password}`);
    else args.push('--dest-no-creds');
  }
  args.push(...(opts.extraArgs ?? []), src, dest);
  return skopeo(args, opts);
}

export interface RegistryReadOptions extends SkopeoOptions {
  creds?: Credentials;
}

function registryReadArgs(ref: string, opts: RegistryReadOptions): string[] {
  const args = ['--retry-times', '0'];
  if (isRegistryRef(ref)) {
    args.push('--tls-verify=false');
    if (opts.creds) args.push('--creds', `${opts.creds.username}:${opts.creds.password}`);
    else args.push('--no-creds');
  }
  return args;
}

/** `skopeo inspect --raw REF`: the manifest (or index) bytes exactly as the source serves them. */
export async function skopeoInspectRaw(ref: string, opts: RegistryReadOptions = {}): Promise<Buffer> {
  const { stdout } = await skopeo(['inspect', '--raw', ...registryReadArgs(ref, opts), ref], opts);
  return stdout;
}

/** `skopeo inspect REF` (parsed JSON summary: Digest, Layers, Architecture, …). */
export async function skopeoInspect(ref: string, opts: RegistryReadOptions = {}): Promise<Record<string, unknown>> {
  const { stdout } = await skopeo(['inspect', ...registryReadArgs(ref, opts), ref], opts);
  return JSON.parse(stdout.toString('utf8')) as Record<string, unknown>;
}

/** `skopeo list-tags docker://HOST/REPO` → the tags. */
export async function skopeoListTags(repoRef: string, opts: RegistryReadOptions = {}): Promise<string[]> {
  const { stdout } = await skopeo(['list-tags', ...registryReadArgs(repoRef, opts), repoRef], opts);
  const parsed = JSON.parse(stdout.toString('utf8')) as { Repository?: string; Tags?: string[] | null };
  return parsed.Tags ?? [];
}
