// The same Dockerfile built by Docker's classic builder (DOCKER_BUILDKIT=0, a dockerd this test
// starts with its own roots) and by `stevedore build` gives the same file tree and the same config
// fields. Times are left out (they differ by construction), and the files Docker's container
// creation adds to an exported tree (/.dockerenv, /etc/hosts, …) too.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDockerEngine, type DockerEngine } from '../helpers/docker-engine.js';
import { buildEnv, type BuildEnv } from './build-env.js';

let env: BuildEnv;
let docker: DockerEngine;
beforeAll(async () => {
  env = await buildEnv();
  docker = await startDockerEngine();
  const loaded = await docker.docker(['load', '-i', env.archive]);
  if (loaded.code !== 0) throw new Error(`docker load: ${loaded.stderr}`);
}, 180_000);
afterAll(async () => {
  await docker?.stop();
  await env?.close();
});

/** What a user could see of a tree, without times. */
async function tree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string) => {
    for (const n of (await readdir(join(root, rel))).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const p = join(root, r);
      const st = await lstat(p);
      let extra = '';
      if (st.isFile()) extra = createHash('sha256').update(await readFile(p)).digest('hex').slice(0, 16);
      else if (st.isSymbolicLink()) extra = `-> ${await readlink(p)}`;
      out.push(`${r} ${(st.mode & 0o170000).toString(8)} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${extra}`);
      if (st.isDirectory()) await walk(r);
    }
  };
  await walk('');
  return out;
}

/** Paths Docker's `create` (not the build) adds to an exported container. */
const CREATED_BY_DOCKER = /^(\.dockerenv|etc\/hosts|etc\/hostname|etc\/resolv\.conf|etc\/mtab|dev(\/.*)?|proc(\/.*)?|sys(\/.*)?) /;

const FIELDS = ['Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'User', 'Labels', 'ExposedPorts', 'Volumes', 'StopSignal', 'Healthcheck', 'OnBuild'] as const;

function fields(c: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of FIELDS) {
    const v = c[f];
    if (v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) continue;
    out[f] = v;
  }
  return out;
}

/** Builds `ctx` with docker's classic builder and with stevedore; checks the config fields and file trees match; returns docker's tree. */
async function compareWithDocker(ctx: string, tag: string, args: string[]): Promise<string[]> {
  const d = await docker.docker(['build', '--network', 'none', ...args, '-t', `${tag}:docker`, ctx], { env: { DOCKER_BUILDKIT: '0' } });
  expect(d.code, d.stderr + d.stdout).toBe(0);
  const s = await env.build(['--network', 'none', ...args, '-t', `${tag}:stevedore`, ctx]);
  expect(s.code, s.stderr).toBe(0);

  // Config fields.
  const inspect = JSON.parse((await docker.docker(['image', 'inspect', `${tag}:docker`])).stdout) as { Config: Record<string, unknown> }[];
  const ours = (await env.image(`${tag}:stevedore`)).config.config;
  expect(fields(ours)).toEqual(fields(inspect[0]!.Config));

  // File trees: Docker's through `docker export` of a created container, ours through a run of the image.
  const created = (await docker.docker(['create', `${tag}:docker`])).stdout.trim();
  const dockerTree = join(env.dir, `${tag}-docker-tree`);
  await mkdir(dockerTree);
  const exported = await docker.docker(['export', '-o', join(env.dir, `${tag}-docker.tar`), created]);
  expect(exported.code, exported.stderr).toBe(0);
  execFileSync('tar', ['--numeric-owner', '-xpf', join(env.dir, `${tag}-docker.tar`), '-C', dockerTree]);
  const ourTree = join(env.dir, `${tag}-our-tree`);
  await mkdir(ourTree);
  const saved = join(env.dir, `${tag}-ours.tar`);
  await env.ok(['save', '-o', saved, `${tag}:stevedore`]);
  // Apply our layers in order with Docker's own loader semantics: load into the same dockerd and export.
  const loaded = await docker.docker(['load', '-i', saved]);
  expect(loaded.code, loaded.stderr).toBe(0);
  const ourCreated = (await docker.docker(['create', `${tag}:stevedore`])).stdout.trim();
  await docker.docker(['export', '-o', join(env.dir, `${tag}-ours-export.tar`), ourCreated]);
  execFileSync('tar', ['--numeric-owner', '-xpf', join(env.dir, `${tag}-ours-export.tar`), '-C', ourTree]);
  const a = (await tree(dockerTree)).filter((l) => !CREATED_BY_DOCKER.test(l));
  const b = (await tree(ourTree)).filter((l) => !CREATED_BY_DOCKER.test(l));
  expect(b).toEqual(a);
  return a;
}

describe('stevedore build compared with docker build (classic builder)', () => {
  it('gives the same file tree and config fields', async () => {
    const ctx = await env.context({
      'files/a.txt': 'a\n',
      'files/sub/b.txt': 'b\n',
      'one.txt': 'one\n',
      Dockerfile: [
        'FROM busybox:test',
        'ARG V=1',
        'ENV A=1 B="two words"',
        'LABEL l1=v1 "l 2"="v 2"',
        'WORKDIR /app',
        'COPY files/ /app/files/',
        'COPY --chown=alice:wheel one.txt /app/',
        'ADD arch.tar /app/unpacked/',
        'RUN mkdir -p /data/sub && echo $V > /data/sub/v && rm /etc/layer-marker && rm -r /data/hello.txt && chmod 700 /app/files',
        'USER bob',
        'EXPOSE 80 53/udp',
        'VOLUME /vol',
        'ENTRYPOINT ["sh"]',
        'CMD ["-c", "echo hi"]',
        'STOPSIGNAL SIGTERM',
        'HEALTHCHECK --interval=5s --retries=4 CMD true',
        'ONBUILD RUN echo child',
        '',
      ].join('\n'),
    });
    await chmod(join(ctx, 'files', 'a.txt'), 0o751);
    const src = join(ctx, 'tarsrc');
    await mkdir(join(src, 'x'), { recursive: true });
    execFileSync('sh', ['-c', `echo in-tar > ${join(src, 'x', 'y.txt')}`]);
    execFileSync('tar', ['-cf', join(ctx, 'arch.tar'), '-C', src, '--owner=7', '--group=8', 'x']);
    await rm(src, { recursive: true });

    const a = await compareWithDocker(ctx, 'cmp', ['--network', 'none', '--build-arg', 'V=42']);
    // Spot checks that the comparison saw the interesting parts.
    expect(a.some((l) => l.startsWith('app/one.txt 100000 644 1000:10 '))).toBe(true);
    expect(a.some((l) => l.startsWith('app/unpacked/x/y.txt 100000 644 7:8 '))).toBe(true);
    expect(a.some((l) => l.startsWith('etc/layer-marker '))).toBe(false);
  }, 300_000);

  it('multi-stage: COPY --from of a file and a directory\'s contents, an ENV of the base stage over an ARG, wildcards, a replaced directory, relative WORKDIR', async () => {
    const ctx = await env.context({
      'src/one.txt': '1\n',
      'src/two.txt': '2\n',
      'src/skip.md': 'no\n',
      Dockerfile: [
        'FROM busybox:test AS base',
        'ENV FROMBASE=env-wins',
        'FROM base AS build',
        'ARG FROMBASE=arg-loses',
        'ARG B=2',
        'RUN echo "$FROMBASE $B" > /argenv && mkdir -p /out/dir && echo x > /out/dir/x && ln -s x /out/dir/link && ln /out/dir/x /out/dir/hard && chmod 750 /out/dir',
        'FROM busybox:test',
        'COPY --from=build /argenv /out/ /copied/',
        'COPY src/*.txt /app/',
        'WORKDIR /app',
        'WORKDIR rel/deeper',
        'RUN rm -rf /home && mkdir /home && echo new > /home/only && touch here && rm /app/one.txt',
        'CMD ["sh"]',
        '',
      ].join('\n'),
    });
    const a = await compareWithDocker(ctx, 'multi', ['--build-arg', 'B=3']);
    expect(a.some((l) => l.startsWith('copied/argenv 100000 644 0:0 '))).toBe(true);
    expect(a.some((l) => l.startsWith('copied/dir 40000 750 0:0'))).toBe(true);
    expect(a.some((l) => l.startsWith('copied/dir/link 120000 777 0:0 -> x'))).toBe(true);
    expect(a.some((l) => l.startsWith('app/one.txt '))).toBe(false);
    expect(a.some((l) => l.startsWith('app/skip.md '))).toBe(false);
    expect(a.some((l) => l.startsWith('app/rel/deeper/here '))).toBe(true);
    expect(a.filter((l) => l.startsWith('home/'))).toEqual([expect.stringMatching(/^home\/only 100000 644 0:0 /)]);
    const run = await env.stevedore(['run', '--rm', 'multi:stevedore', 'cat', '/copied/argenv']);
    expect(run.stdout).toBe('env-wins 3\n');
  }, 300_000);
});
