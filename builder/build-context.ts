// The build context: a directory, or a tar on standard input (`stevedore build -`) unpacked into
// a private temporary directory; when standard input is not a tar, it is the Dockerfile itself
// and the context is empty (as `docker build - < Dockerfile`). .dockerignore is read here.
import { KindedError } from '../util/errors.js';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { DockerIgnore } from './dockerfile/patterns.js';

/** A build context that cannot be read: kind `invalid` (util/errors.ts). */
export class ContextError extends KindedError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'ContextError';
  }
}

export interface BuildContext {
  dir: string;
  ignore?: DockerIgnore;
  /** A Dockerfile that came on standard input. */
  dockerfileText?: string;
  dispose(): Promise<void>;
}

async function readAll(input: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of input as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

function isTar(b: Buffer): boolean {
  return (b.length >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar') || (b[0] === 0x1f && b[1] === 0x8b);
}

async function loadIgnore(dir: string): Promise<DockerIgnore | undefined> {
  const text = await readFile(join(dir, '.dockerignore'), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : DockerIgnore.parse(text);
}

export async function openContext(arg: string, stdin: Readable, tmpRoot: string): Promise<BuildContext> {
  if (arg !== '-') {
    const dir = resolve(arg);
    const st = await stat(dir).catch(() => undefined);
    if (!st?.isDirectory()) throw new ContextError(`unable to prepare context: path ${JSON.stringify(arg)} not found or not a directory`);
    const ignore = await loadIgnore(dir);
    return { dir, ...(ignore ? { ignore } : {}), dispose: async () => {} };
  }
  await mkdir(tmpRoot, { recursive: true, mode: 0o700 });
  const dir = join(tmpRoot, `context-${randomUUID()}`);
  await mkdir(dir, { mode: 0o755 });
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    const bytes = await readAll(stdin);
    if (!isTar(bytes)) return { dir, dockerfileText: bytes.toString('utf8'), dispose };
    // GNU tar refuses members with `..` and strips leading `/`; owners are not kept (a context's files are copied as root's).
    await new Promise<void>((res, rej) => {
      const child = spawn('tar', ['-x', '-C', dir, '--no-same-owner', '-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.on('error', rej);
      child.on('close', (code) => (code === 0 ? res() : rej(new ContextError(`the context on standard input is not a valid tar: ${err.trim().split('\n')[0]}`))));
      child.stdin.on('error', () => undefined);
      child.stdin.end(bytes);
    });
    const ignore = await loadIgnore(dir);
    return { dir, ...(ignore ? { ignore } : {}), dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

