// Multi-stage builds, --target, and where a built image goes: the local store (-q, --iidfile),
// an OCI layout and a docker-archive (-o), a Stevedore registry (--push, pulled back by skopeo);
// contexts from standard input; one-line refusals.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { skopeoCopy, skopeoInspect, skopeoInspectRaw } from '../helpers/skopeo.js';
import { startStevedore, type StevedoreProcess } from '../helpers/stevedore-process.js';
import { buildEnv, type BuildEnv } from './build-env.js';

let env: BuildEnv;
let registry: StevedoreProcess;
beforeAll(async () => {
  env = await buildEnv();
  registry = await startStevedore();
}, 120_000);
afterAll(async () => {
  await registry?.stop();
  await env?.close();
});

const MULTI = [
  'ARG GREETING=hello',
  'FROM busybox:test AS base',
  'RUN echo base > /base.txt',
  'FROM base AS builder',
  'ARG GREETING',
  'RUN echo "$GREETING from builder" > /artifact',
  'FROM busybox:test AS unused',
  'RUN echo never-built-unless-asked > /unused',
  'FROM scratch',
  'COPY --from=builder /artifact /artifact',
  'COPY --from=1 /base.txt /base.txt',
  '',
].join('\n');

describe('stevedore build: stages and outputs', () => {
  it('builds only the stages the target needs; a scratch image with two files', async () => {
    const ctx = await env.context({ Dockerfile: MULTI });
    const r = await env.build(['--progress', 'plain', '--build-arg', 'GREETING=hi', '--build-arg', 'NOBODY=x', '-t', 'multi:1', ctx]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('never-built');
    expect(r.stderr).not.toMatch(/\[unused /);
    expect(r.stderr).toMatch(/\[builder 2\/2\] RUN echo "\$GREETING from builder" > \/artifact/);
    expect(r.stderr).toContain('[Warning] One or more build-args [NOBODY] were not consumed');
    const img = await env.image('multi:1');
    expect(img.layers).toHaveLength(2);
    const files = (await env.allEntries('multi:1')).flat();
    expect(files.find((e) => e.name === 'artifact')?.content).toBe('hi from builder\n');
    expect(files.find((e) => e.name === 'base.txt')?.content).toBe('base\n');

    const t = await env.build(['--progress', 'plain', '--target', 'unused', '-t', 'multi:unused', ctx]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stderr).not.toMatch(/\[builder /);
    const run = await env.stevedore(['run', '--rm', 'multi:unused', 'cat', '/unused']);
    expect(run.stdout).toBe('never-built-unless-asked\n');
  }, 180_000);

  it('builds independent stages at the same time; the log still reads stage by stage', async () => {
    // Each stage waits (up to 60 s) for the other's mark in a shared cache mount: built one after
    // the other, the first would give up and fail.
    const waitFor = (mine: string, other: string) =>
      `RUN --mount=type=cache,id=concurrency-${env.dir},target=/sync touch /sync/${mine} && i=0; while [ ! -e /sync/${other} ]; do sleep 0.1; i=$((i+1)); if [ $i -gt 600 ]; then echo no ${other}; exit 1; fi; done; echo ${mine} saw ${other}; cp /sync/${other} /${mine}-saw-${other}`;
    const ctx = await env.context({
      Dockerfile: ['FROM busybox:test AS left', waitFor('left', 'right'), 'FROM busybox:test AS right', waitFor('right', 'left'), 'FROM scratch', 'COPY --from=left /left-saw-right /', 'COPY --from=right /right-saw-left /', ''].join('\n'),
    });
    const r = await env.build(['--progress', 'plain', '-t', 'concurrent:1', ctx]);
    expect(r.code, r.stderr).toBe(0);
    const names = (await env.allEntries('concurrent:1')).flat().map((e) => e.name);
    expect(names).toEqual(['left-saw-right', 'right-saw-left']);
    // Vertex numbers and lines in stage order: all of left's, then all of right's, then the last stage.
    const heads = r.stderr.split('\n').filter((l) => /^#\d+ \[/.test(l));
    expect(heads.map((l) => l.replace(/ RUN .*| COPY .*| FROM .*/, ''))).toEqual(['#1 [left 1/2]', '#2 [left 2/2]', '#3 [right 1/2]', '#4 [right 2/2]', '#5 [stage-2 2/3]', '#6 [stage-2 3/3]']);
    const lines = r.stderr.split('\n');
    const leftDone = lines.findIndex((l) => l.startsWith('#2 DONE'));
    expect(lines.findIndex((l) => /^#2 [0-9.]+ left saw right$/.test(l))).toBeGreaterThan(0);
    expect(lines.findIndex((l) => l.startsWith('#4 '))).toBeGreaterThan(leftDone);
    expect(await env.leftovers()).toEqual([]);
  }, 180_000);

  it('a stage that fails stops the stage building beside it: its container is killed, nothing is left behind', async () => {
    const ctx = await env.context({
      Dockerfile: ['FROM busybox:test AS slow', 'RUN echo slow-started; sleep 600', 'FROM busybox:test AS bad', 'RUN sleep 1; echo bad-output; exit 3', 'FROM scratch', 'COPY --from=slow /etc/passwd /a', 'COPY --from=bad /etc/passwd /b', ''].join('\n'),
    });
    // Without the stop, the build would wait for `sleep 600` and the test time out.
    const r = await env.build(['--progress', 'plain', ctx]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('bad-output');
    expect(r.stderr.trim().split('\n').pop()).toBe('stevedore: failed to build: process "/bin/sh -c sleep 1; echo bad-output; exit 3" did not complete successfully: exit code: 3');
    expect(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').some((l) => l.trim() === 'sleep 600')).toBe(false);
    expect(await env.leftovers()).toEqual([]);
  }, 120_000);

  it('-q prints only the id; --iidfile writes it; -o oci: and docker-archive: hold the same image', async () => {
    const ctx = await env.context({ Dockerfile: 'FROM busybox:test\nRUN echo out > /out.txt\nCMD ["cat", "/out.txt"]\n' });
    const iid = join(env.dir, 'iid');
    const layout = join(env.dir, 'layout');
    const r = await env.build(['-q', '--iidfile', iid, '-o', `oci:${layout}:v1`, '-t', 'outs:1', ctx]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^sha256:[a-f0-9]{64}\n$/);
    expect(await readFile(iid, 'utf8')).toBe(r.stdout.trim());
    const fromLayout = await skopeoInspect(`oci:${layout}:v1`);
    expect(fromLayout.Digest).toBe((await env.image('outs:1')).manifest);
    const archive = join(env.dir, 'outs.tar');
    const a = await env.build(['-q', '-o', `docker-archive:${archive}`, '-t', 'outs:1', ctx]);
    expect(a.code, a.stderr).toBe(0);
    const manifest = JSON.parse(execFileSync('tar', ['-xOf', archive, 'manifest.json'], { encoding: 'utf8' })) as { RepoTags: string[] }[];
    expect(manifest[0]!.RepoTags).toEqual(['outs:1']); // as docker save names it
  }, 180_000);

  it('--push sends the image to the registry of each -t name; skopeo pulls it back unchanged', async () => {
    const ctx = await env.context({ Dockerfile: 'FROM busybox:test\nRUN echo pushed > /pushed.txt\n' });
    const name = `${registry.host}/built/app:1`;
    const r = await env.build(['-q', '--push', '--insecure-registry', registry.host, '-t', name, ctx]);
    expect(r.code, r.stderr).toBe(0);
    const local = await env.image(name);
    const remote = await skopeoInspect(`docker://${name}`);
    expect(remote.Digest).toBe(local.manifest);
    const back = join(env.dir, 'pulled-back');
    await skopeoCopy(`docker://${name}`, `oci:${back}:x`);
    const index = JSON.parse(await readFile(join(back, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    expect(index.manifests[0]!.digest).toBe(local.manifest);
  }, 180_000);

  it('--compression zstd: new layers are zstd with the OCI media type, reproducible, pushed and pulled back by skopeo, run from another store', async () => {
    const ctx = await env.context({ 'z.txt': 'zstd layer\n', Dockerfile: 'FROM busybox:test\nCOPY z.txt /z.txt\nRUN echo ran >> /z.txt\nCMD ["cat", "/z.txt"]\n' });
    const name = `${registry.host}/built/zstd:1`;
    const epoch = { SOURCE_DATE_EPOCH: '1700000000' };
    const r = await env.build(['-q', '--compression', 'zstd', '--push', '--insecure-registry', registry.host, '-t', name, ctx], { env: epoch });
    expect(r.code, r.stderr).toBe(0);
    const local = await env.image(name);
    const base = await env.image('busybox:test');
    const added = local.layers.slice(base.layers.length);
    expect(added).toHaveLength(2);
    for (const l of added) {
      expect(l.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+zstd');
      const head = await readFile(join(env.root, 'content', 'blobs', 'sha256', l.digest.slice(7)));
      expect([...head.subarray(0, 4)]).toEqual([0x28, 0xb5, 0x2f, 0xfd]); // zstd's magic number
    }
    expect(local.layers.slice(0, base.layers.length)).toEqual(base.layers); // the base's layers as they were
    expect((await env.layer(added[0]!.digest)).find((e) => e.name === 'z.txt')?.content).toBe('zstd layer\n');
    // The same inputs with SOURCE_DATE_EPOCH give the same zstd blobs; a gzip build of them is another image.
    const again = await env.build(['-q', '--no-cache', '--compression', 'zstd', '-t', 'zstd:again', ctx], { env: epoch });
    expect(again.code, again.stderr).toBe(0);
    expect((await env.image('zstd:again')).manifest).toBe(local.manifest);
    const gz = await env.build(['-q', '-t', 'zstd:gzip', ctx], { env: epoch });
    expect(gz.code, gz.stderr).toBe(0);
    expect((await env.image('zstd:gzip')).layers.at(-1)!.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');

    const remote = await skopeoInspect(`docker://${name}`);
    expect(remote.Digest).toBe(local.manifest);
    const raw = JSON.parse((await skopeoInspectRaw(`docker://${name}`)).toString('utf8')) as { layers: { mediaType: string }[] };
    expect(raw.layers.at(-1)!.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+zstd');
    const back = join(env.dir, 'zstd-back');
    await skopeoCopy(`docker://${name}`, `oci:${back}:x`);
    const index = JSON.parse(await readFile(join(back, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    expect(index.manifests[0]!.digest).toBe(local.manifest);
    // Pulled into a store of its own, unpacked from the zstd blobs, and run.
    const other = ['--root', join(env.dir, 'zstd-root')];
    const pulled = await env.stevedore([...other, 'pull', '--insecure-registry', registry.host, name]);
    expect(pulled.code, pulled.stderr).toBe(0);
    // --network none: a bridge of this other root would outlive it (its network prune never runs).
    const run = await env.stevedore([...other, 'run', '--rm', '--network', 'none', name]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe('zstd layer\nran\n');
  }, 180_000);

  it('refuses an unknown --compression in one line', async () => {
    const ctx = await env.context({ Dockerfile: 'FROM busybox:test\n' });
    const r = await env.build(['--compression', 'xz', ctx]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toBe('stevedore: --compression xz: gzip or zstd\n');
  }, 60_000);

  it('reads the context as a tar, or a Dockerfile alone, on standard input', async () => {
    const ctx = await env.context({ 'in-tar.txt': 'from the tar\n', Dockerfile: 'FROM busybox:test\nCOPY in-tar.txt /\n' });
    const tarBytes = execFileSync('tar', ['-C', ctx, '-cf', '-', '.']);
    const r = await env.stevedore(['build', '-q', '-t', 'stdin:tar', '-'], { input: tarBytes.toString('latin1') });
    expect(r.code, r.stderr).toBe(0);
    expect((await env.allEntries('stdin:tar')).flat().find((e) => e.name === 'in-tar.txt')?.content).toBe('from the tar\n');
    const d = await env.stevedore(['build', '-q', '-t', 'stdin:df', '-'], { input: 'FROM busybox:test\nENV FROM_STDIN=1\n' });
    expect(d.code, d.stderr).toBe(0);
    expect((await env.image('stdin:df')).config.config.Env).toContain('FROM_STDIN=1');
  }, 120_000);

  it('FROM --platform: $BUILDPLATFORM builds; another platform only for stages without RUN; # syntax= is ignored with a note', async () => {
    const other = process.arch === 'arm64' ? 'linux/amd64' : 'linux/arm64';
    const ctx = await env.context({ 'f.txt': 'f\n', Dockerfile: '# syntax=docker/dockerfile:1\nFROM --platform=$BUILDPLATFORM busybox:test\nRUN echo ok > /ok\n' });
    const r = await env.build(['--progress', 'plain', '-t', 'plat:build', ctx]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('[Note] # syntax=docker/dockerfile:1 is ignored: stevedore build has its own Dockerfile frontend (syntax 1.x)');
    const scratch = await env.context({ 'f.txt': 'f\n', Dockerfile: `FROM --platform=${other} scratch\nCOPY f.txt /f.txt\n` });
    const s = await env.build(['-q', '-t', 'plat:other', scratch]);
    expect(s.code, s.stderr).toBe(0);
    expect((await env.image('plat:other')).config.architecture).toBe(other.split('/')[1]);
    const runs = await env.context({ Dockerfile: `FROM --platform=${other} busybox:test\nRUN true\n` });
    const q = await env.build(['-q', runs]);
    expect(q.code).not.toBe(0);
    expect(q.stderr).toMatch(new RegExp(`^stevedore: failed to build: FROM --platform=${other}: this host is linux/\\w+ and RUN steps would need emulation, which stevedore build does not do; build on a ${other} machine\\n$`));
  }, 120_000);

  it('refuses in one line: parse errors with file:line:column, another platform with RUN, no context', async () => {
    const bad = await env.context({ Dockerfile: 'FROM busybox:test\n\nRUNN echo\n' });
    const p = await env.build([bad]);
    expect(p.code).not.toBe(0);
    expect(p.stderr.trim()).toBe('stevedore: failed to build: Dockerfile:3:1: unknown instruction: RUNN');
    const other = process.arch === 'arm64' ? 'linux/amd64' : 'linux/arm64';
    const plat = await env.context({ Dockerfile: 'FROM busybox:test\nRUN true\n' });
    const q = await env.build(['--platform', other, plat]);
    expect(q.code).not.toBe(0);
    expect(q.stderr.trim().split('\n')).toHaveLength(1);
    expect(q.stderr).toMatch(/RUN steps would need emulation/);
    const none = await env.build([join(env.dir, 'no-such-dir')]);
    expect(none.stderr.trim()).toMatch(/^stevedore: unable to prepare context: path ".*no-such-dir" not found or not a directory$/);
    expect(await env.leftovers()).toEqual([]);
  }, 120_000);
});
