// Parsing of `stevedore run` flag values into what the bundle needs; every error is a one-line
// message naming the flag.
import { readFile } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { KindedError } from '../../util/errors.js';

export class UsageError extends KindedError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'UsageError';
  }
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `--memory 64m`: bytes (b, k, m, g, t; docker's minimum is 6 MiB). */
export function parseMemory(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([bkmgt]?)i?b?$/i.exec(text.trim());
  if (!m) throw new UsageError(`invalid --memory ${JSON.stringify(text)}: a number with an optional unit (b, k, m, g), e.g. 64m`);
  const bytes = Math.floor(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
  if (bytes < 6 * 1024 * 1024) throw new UsageError(`--memory ${text}: the minimum is 6m`);
  return bytes;
}

export function parseCpus(text: string): number {
  const n = Number(text);
  if (!/^[0-9]*\.?[0-9]+$/.test(text.trim()) || !Number.isFinite(n) || n <= 0) throw new UsageError(`invalid --cpus ${JSON.stringify(text)}: a positive number, e.g. 1.5`);
  if (Math.round(n * 100_000) < 1000) throw new UsageError(`--cpus ${text}: the minimum is 0.01`);
  return n;
}

export function parsePidsLimit(text: string): number | undefined {
  if (!/^-?[0-9]+$/.test(text.trim())) throw new UsageError(`invalid --pids-limit ${JSON.stringify(text)}: an integer (0 or -1: unlimited)`);
  const n = Number(text);
  return n > 0 ? n : undefined;
}

const ENV_NAME = /^[^=\s]+$/;

/** `-e K=V` as given, `-e K` from the caller's environment (dropped when unset, like docker). */
export function envFromFlag(value: string, callerEnv: NodeJS.ProcessEnv, where = '-e'): string | undefined {
  const i = value.indexOf('=');
  const name = i < 0 ? value : value.slice(0, i);
  if (!ENV_NAME.test(name)) throw new UsageError(`invalid ${where} ${JSON.stringify(value)}: NAME=VALUE or NAME`);
  if (i >= 0) return value;
  const v = callerEnv[name];
  return v === undefined ? undefined : `${name}=${v}`;
}

/** An env file: NAME=VALUE or NAME lines; blank lines and # comments skipped. */
export async function readEnvFile(path: string, callerEnv: NodeJS.ProcessEnv): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--env-file ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  const out: string[] = [];
  text.split(/\r?\n/).forEach((raw, n) => {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    const v = envFromFlag(line, callerEnv, `line ${n + 1} of --env-file ${path}:`);
    if (v !== undefined) out.push(v);
  });
  return out;
}

export function parseWorkdir(text: string): string {
  if (!isAbsolute(text)) throw new UsageError(`the working directory ${JSON.stringify(text)} is invalid: it needs to be an absolute path`);
  return text;
}

export function parseHostname(text: string): string {
  if (!/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$/.test(text)) throw new UsageError(`invalid --hostname ${JSON.stringify(text)}`);
  return text;
}
