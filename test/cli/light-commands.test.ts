// `images`, `ps` and `tags` run without commander (cli/light-commands.ts) and end the process as
// soon as their output is written, instead of waiting for Node's own teardown. The compiled CLI,
// as a user runs it: a long listing reaches a slow reader whole, and a bad line is still
// commander's one-line usage error.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/stevedore-process.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'light-commands-'));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; its output is read only after `readAfterMs` (a slow reader: the pipe fills up). */
function stevedore(args: string[], readAfterMs = 0): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.pause();
    setTimeout(() => {
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stdout.resume();
    }, readAfterMs);
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

describe('the commands run without commander', () => {
  it('ps writes every row of a long listing to a reader that is slow to read it', async () => {
    // Exited containers' records (no runtime is asked about those): ~100 bytes a row, far more
    // than a pipe holds, so most of the table is still queued when the listing is done.
    const root = join(dir, 'root');
    const count = 3000;
    for (let i = 0; i < count; i++) {
      const id = i.toString(16).padStart(64, '0');
      await mkdir(join(root, 'containers', id), { recursive: true });
      const record = {
        id,
        name: `c${i}`,
        created: new Date(Date.UTC(2026, 0, 1, 0, 0, i % 60, i)).toISOString(),
        image: { manifestDigest: `sha256:${'a'.repeat(64)}`, configDigest: `sha256:${'b'.repeat(64)}` },
        path: 'sh',
        args: ['-c', `echo a long enough command line ${i}`],
        state: 'exited',
        exitCode: i % 3,
        finishedAt: '2026-01-01T00:01:00.000Z',
        hostConfig: {},
      };
      await writeFile(join(root, 'containers', id, 'container.json'), JSON.stringify(record));
    }
    const run = await stevedore(['--root', root, 'ps', '-a'], 500);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(count + 1);
    expect(lines[0]).toMatch(/^CONTAINER ID\s+IMAGE\s+COMMAND/);
    expect(new Set(lines.slice(1).map((l) => l.trim().split(/\s+/).pop()))).toEqual(new Set(Array.from({ length: count }, (_, i) => `c${i}`)));
  });

  it('a line commander refuses is still its one-line usage error, with the exit status of a usage error', async () => {
    const run = await stevedore(['--root', join(dir, 'empty'), 'images', '--bogus']);
    expect(run.code).toBe(125);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe("stevedore: unknown option '--bogus'; see 'stevedore images --help'\n");
  });

  it('images of an empty store and ps load neither commander nor the store, runtime or client', async () => {
    const hook = join(dir, 'hook.mjs');
    await writeFile(
      hook,
      `import { registerHooks } from 'node:module';
const seen = [];
registerHooks({ load(url, context, next) { seen.push(url); return next(url, context); } });
process.on('exit', () => process.stderr.write(seen.join('\\n')));
`,
    );
    for (const args of [['images'], ['ps', '-a']]) {
      const loaded = await new Promise<string[]>((resolve, reject) => {
        // tsc's output, module by module (the bundle loads no builtin more: module-loading.test.ts).
        const env = { ...process.env, STEVEDORE_NO_BUNDLE: '1' };
        const child = spawn(process.execPath, ['--import', hook, CLI, '--root', join(dir, 'empty'), ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
        let err = '';
        child.stderr.on('data', (c: Buffer) => (err += c.toString()));
        child.on('error', reject);
        child.on('close', (code) => (code === 0 ? resolve(err.split('\n')) : reject(new Error(err))));
      });
      const ours = loaded.filter((u) => u.includes('/dist/') || u.includes('/node_modules/')).map((u) => u.replace(/^.*\/dist\//, ''));
      expect(ours, args.join(' ')).toContain('cli/light-commands.js');
      expect(ours.filter((m) => /node_modules|program\.js|-commands?\.js$|engine\/store\/image-store|snapshots|content-store|runtime\/|engine-context|^client\//.test(m) && m !== 'cli/light-commands.js'), args.join(' ')).toEqual([]);
      expect(loaded, args.join(' ')).not.toContain('node:child_process');
      expect(loaded, args.join(' ')).not.toContain('node:fs/promises');
    }
  });

  it('a failure of the command is one line and exit status 1', async () => {
    const run = await stevedore(['--root', join(dir, 'empty'), 'images', '--filter', 'nonsense']);
    expect(run).toEqual({ code: 1, stdout: '', stderr: 'stevedore: invalid --filter "nonsense": KEY=VALUE\n' });
  });
});
