// The build cache, reproducibility, RUN --mount (cache, secret, bind) and failures end to end.
import { readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEnv, type BuildEnv } from './build-env.js';

let env: BuildEnv;
beforeAll(async () => {
  env = await buildEnv();
}, 120_000);
afterAll(async () => {
  await env?.close();
});

const steps = (stderr: string) => {
  // `#N [i/n] TEXT` followed later by `#N CACHED` or `#N DONE`.
  const names = new Map<string, string>();
  const state = new Map<string, string>();
  for (const line of stderr.split('\n')) {
    const m = /^#(\d+) (\[.*)$/.exec(line);
    if (m) names.set(m[1]!, m[2]!);
    const s = /^#(\d+) (CACHED|DONE|ERROR)/.exec(line);
    if (s) state.set(s[1]!, s[2]!);
  }
  return [...names].filter(([, n]) => !n.includes('FROM')).map(([id, n]) => `${state.get(id)} ${n}`);
};

describe('stevedore build: cache', () => {
  it('a second build is all cached; a changed file rebuilds only from its COPY; --no-cache rebuilds all; prune empties it', async () => {
    const ctx = await env.context({
      'a.txt': 'a1\n',
      'b.txt': 'b1\n',
      Dockerfile: 'FROM busybox:test\nRUN echo first > /first\nCOPY a.txt /a.txt\nRUN echo after-a > /after-a\nCOPY b.txt /b.txt\nRUN cat /a.txt /b.txt > /both\n',
    });
    const first = await env.build(['--progress', 'plain', '-t', 'cache:1', ctx]);
    expect(first.code, first.stderr).toBe(0);
    expect(steps(first.stderr).every((s) => s.startsWith('DONE'))).toBe(true);

    const second = await env.build(['--progress', 'plain', '-t', 'cache:2', ctx]);
    expect(second.code, second.stderr).toBe(0);
    expect(steps(second.stderr)).toEqual([
      'CACHED [2/6] RUN echo first > /first',
      'CACHED [3/6] COPY a.txt /a.txt',
      'CACHED [4/6] RUN echo after-a > /after-a',
      'CACHED [5/6] COPY b.txt /b.txt',
      'CACHED [6/6] RUN cat /a.txt /b.txt > /both',
    ]);
    expect((await env.image('cache:2')).layers).toEqual((await env.image('cache:1')).layers);
    // Nothing changed: the same image as before (same id), not a new one with a new creation time.
    expect((await env.image('cache:2')).manifest).toBe((await env.image('cache:1')).manifest);
    const labelled = await env.build(['-q', '--label', 'extra=1', '-t', 'cache:labelled', ctx]);
    expect(labelled.code, labelled.stderr).toBe(0);
    expect((await env.image('cache:labelled')).manifest).not.toBe((await env.image('cache:1')).manifest);
    expect((await env.image('cache:labelled')).config.config.Labels).toEqual({ extra: '1' });

    await writeFile(join(ctx, 'b.txt'), 'b2\n');
    const third = await env.build(['--progress', 'plain', '-t', 'cache:3', ctx]);
    expect(steps(third.stderr).map((s) => s.split(' ')[0])).toEqual(['CACHED', 'CACHED', 'CACHED', 'DONE', 'DONE']);
    const run = await env.stevedore(['run', '--rm', 'cache:3', 'cat', '/both']);
    expect(run.stdout).toBe('a1\nb2\n');

    const nocache = await env.build(['--progress', 'plain', '--no-cache', '-t', 'cache:4', ctx]);
    expect(steps(nocache.stderr).every((s) => s.startsWith('DONE'))).toBe(true);

    // builder prune: the cache alone goes; every step runs again.
    expect(await env.ok(['builder', 'prune'])).toBe('Build cache removed\n');
    const afterBuilderPrune = await env.build(['--progress', 'plain', '-t', 'cache:4b', ctx]);
    expect(steps(afterBuilderPrune.stderr).every((s) => s.startsWith('DONE'))).toBe(true);

    await env.ok(['prune', '-q']);
    const afterPrune = await env.build(['--progress', 'plain', '-t', 'cache:5', ctx]);
    expect(afterPrune.code, afterPrune.stderr).toBe(0);
    expect(steps(afterPrune.stderr).every((s) => s.startsWith('DONE'))).toBe(true);
  }, 240_000);

  it('context files are not re-read when unchanged, yet a same-size edit with its mtime put back still rebuilds', async () => {
    const ctx = await env.context({ 'a.txt': 'a1\n', 'b.txt': 'b1\n', Dockerfile: 'FROM busybox:test\nCOPY a.txt /a.txt\nCOPY b.txt /b.txt\n' });
    // Context files are remembered by their stat once older than a second (newer ones are racy).
    await utimes(join(ctx, 'a.txt'), 1_000_000, 1_000_000);
    await utimes(join(ctx, 'b.txt'), 1_000_000, 1_000_000);
    const bStat = await stat(join(ctx, 'b.txt'));
    await new Promise((r) => setTimeout(r, Math.max(0, bStat.ctimeMs + 1100 - Date.now())));
    expect((await env.build(['-q', '-t', 'ctxcache:1', ctx])).code).toBe(0);
    const cacheDir = join(env.root, 'builder', 'context-cache');
    const remembered = await Promise.all((await readdir(cacheDir)).map((n) => readFile(join(cacheDir, n), 'utf8')));
    expect(remembered.join('\n')).toContain(JSON.stringify(join(ctx, 'b.txt')));

    await writeFile(join(ctx, 'b.txt'), 'b9\n'); // same size
    await utimes(join(ctx, 'b.txt'), bStat.atime, bStat.mtime);
    expect((await stat(join(ctx, 'b.txt'))).mtimeMs).toBe(bStat.mtimeMs);
    const again = await env.build(['--progress', 'plain', '-t', 'ctxcache:2', ctx]);
    expect(again.code, again.stderr).toBe(0);
    expect(steps(again.stderr)).toEqual(['CACHED [2/3] COPY a.txt /a.txt', 'DONE [3/3] COPY b.txt /b.txt']);
    expect((await env.stevedore(['run', '--rm', 'ctxcache:2', 'cat', '/b.txt'])).stdout).toBe('b9\n');
  }, 120_000);

  it('SOURCE_DATE_EPOCH: two builds of the same inputs give the same image digest', async () => {
    const ctx = await env.context({ 'f.txt': 'same\n', Dockerfile: 'FROM busybox:test\nCOPY f.txt /f.txt\nRUN echo made > /made\nENV X=1\n' });
    const epoch = { SOURCE_DATE_EPOCH: '1700000000' };
    const a = await env.build(['--no-cache', '-q', '-t', 'repro:a', ctx], { env: epoch });
    const b = await env.build(['--no-cache', '-q', '-t', 'repro:b', ctx], { env: epoch });
    expect(a.code, a.stderr).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    expect(a.stdout).toMatch(/^sha256:[a-f0-9]{64}\n$/);
    const img = await env.image('repro:a');
    expect(img.config.created).toBe('2023-11-14T22:13:20Z');
    expect((await env.image('repro:b')).manifest).toBe(img.manifest);
    const made = (await env.layer(img.layers[img.layers.length - 1]!.digest)).find((e) => e.name === 'made');
    expect(made).toBeDefined();
  }, 180_000);

  it('RUN --mount: a cache directory persists between builds; a secret is readable but in no layer', async () => {
    const secretFile = join(env.dir, 'token');
    await writeFile(secretFile, 'S3CR3T-VALUE\n');
    const ctx = await env.context({
      'bound.txt': 'bound from the context\n',
      Dockerfile: [
        'FROM busybox:test',
        'ARG RUN_ID',
        'RUN --mount=type=cache,target=/var/cache/app echo "$RUN_ID" >> /var/cache/app/runs && cat /var/cache/app/runs > /runs-seen',
        'RUN --mount=type=secret,id=token cat /run/secrets/token | wc -c > /secret-size',
        'RUN --mount=type=bind,target=/mnt cat /mnt/bound.txt > /bound-copy',
        '',
      ].join('\n'),
    });
    const one = await env.build(['--build-arg', 'RUN_ID=one', '--secret', `id=token,src=${secretFile}`, '-t', 'mounts:1', ctx]);
    expect(one.code, one.stderr).toBe(0);
    const two = await env.build(['--build-arg', 'RUN_ID=two', '--secret', `id=token,src=${secretFile}`, '-t', 'mounts:2', ctx]);
    expect(two.code, two.stderr).toBe(0);
    const run = await env.stevedore(['run', '--rm', 'mounts:2', 'sh', '-c', 'cat /runs-seen /secret-size /bound-copy; ls /var/cache/app 2>&1; ls /run 2>&1']);
    expect(run.stdout).toMatch(/^one\ntwo\n\s*13\nbound from the context\n/);
    expect(run.stdout).not.toContain('runs\n');
    for (const layer of await env.allEntries('mounts:2')) {
      for (const e of layer) {
        expect(e.content ?? '').not.toContain('S3CR3T');
        expect(e.name).not.toMatch(/^run\/secrets|^var\/cache\/app\/|^mnt\//);
      }
    }
  }, 180_000);

  it('a failing RUN shows its last lines, the step and exit code, and leaves nothing behind', async () => {
    const ctx = await env.context({ Dockerfile: 'FROM busybox:test\nRUN echo preparing\nRUN echo line-one; sleep 0.2; echo line-two >&2; exit 7\nRUN echo never\n' });
    const r = await env.build(['--progress', 'plain', '-t', 'fails:1', ctx]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(' > [3/4] RUN echo line-one; sleep 0.2; echo line-two >&2; exit 7:\nline-one\nline-two\n------\n');
    expect(r.stderr.trim().split('\n').pop()).toBe('stevedore: failed to build: process "/bin/sh -c echo line-one; sleep 0.2; echo line-two >&2; exit 7" did not complete successfully: exit code: 7');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(await env.leftovers()).toEqual([]);
    const images = await env.ok(['images']);
    expect(images).not.toContain('fails');
  }, 120_000);

  it('Ctrl-C during a RUN: the container is killed, nothing is left behind', async () => {
    const ctx = await env.context({ Dockerfile: 'FROM busybox:test\nRUN echo started && sleep 600\n' });
    const child = env.spawn(['build', '--progress', 'plain', ctx]);
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    await env.waitFor('the RUN to start', async () => err.includes('started'));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    expect(code).toBe(130);
    expect(await env.leftovers()).toEqual([]);
    // The container's `sleep 600` is gone too.
    const procs = await env.waitFor('the container to be gone', async () => {
      const { execFileSync } = await import('node:child_process');
      const out = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
      return !out.split('\n').some((l) => l.trim() === 'sleep 600') && 'gone';
    });
    expect(procs).toBe('gone');
  }, 120_000);
});
