// COPY --parents and --exclude (BuildKit's Dockerfile 1.7-labs semantics, now in the stable
// syntax), and where a COPY lands in what the base image already has: a destination through the
// base's symlink, a directory of the base copied up with its own owner and mode, the image run
// afterwards (its last layer's files are unpacked only then).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEnv, byName, type BuildEnv, type LayerEntry } from './build-env.js';

let env: BuildEnv;
beforeAll(async () => {
  env = await buildEnv();
}, 120_000);
afterAll(async () => {
  await env?.close();
});

const under = (all: Map<string, LayerEntry>, prefix: string) => [...all.keys()].filter((k) => k.startsWith(prefix)).sort();

describe('stevedore build: COPY --parents and --exclude', () => {
  it('--parents keeps the sources\' directories (after a /./ pivot; ** matches any depth, also --from); --exclude leaves files out', async () => {
    const ctx = await env.context({
      'x/a.txt': 'xa\n',
      'y/a.txt': 'ya\n',
      'src/a.txt': 'a\n',
      'src/x/b.txt': 'b\n',
      'src/x/y/c.txt': 'c\n',
      'src/x/y/d.md': 'd\n',
      'p/q/r.txt': 'r\n',
      'home.txt': 'home\n',
      'home.md': 'home md\n',
      'homer/x.md': 'x md\n',
      'homer/y.txt': 'y\n',
      Dockerfile: [
        'FROM busybox:test AS stage',
        'RUN mkdir -p /out/sub && echo f > /out/sub/f',
        'FROM busybox:test',
        'COPY --parents ./x/a.txt ./y/a.txt /parents/',
        'COPY --parents ./src/**/*.txt /deep/',
        'COPY --parents ./p/./q/*.txt /pivot/',
        'COPY --parents --from=stage /out/./sub/f /fromstage/',
        'COPY --exclude=**/*.md --exclude=x/y/c.txt src/ /ex/',
        'COPY --exclude=*.md hom* /mydir/',
        '',
      ].join('\n'),
    });
    const r = await env.build(['-q', '-t', 'flags:1', ctx]);
    expect(r.code, r.stderr).toBe(0);
    const all = byName((await env.allEntries('flags:1')).slice(3).flat());
    // Without --parents both a.txt would land on /parents/a.txt.
    expect(under(all, 'parents/')).toEqual(['parents/', 'parents/x/', 'parents/x/a.txt', 'parents/y/', 'parents/y/a.txt']);
    expect(all.get('parents/y/a.txt')?.content).toBe('ya\n');
    expect(under(all, 'deep/')).toEqual(['deep/', 'deep/src/', 'deep/src/a.txt', 'deep/src/x/', 'deep/src/x/b.txt', 'deep/src/x/y/', 'deep/src/x/y/c.txt']);
    expect(under(all, 'pivot/')).toEqual(['pivot/', 'pivot/q/', 'pivot/q/r.txt']);
    expect(under(all, 'fromstage/')).toEqual(['fromstage/', 'fromstage/sub/', 'fromstage/sub/f']);
    expect(under(all, 'ex/')).toEqual(['ex/', 'ex/a.txt', 'ex/x/', 'ex/x/b.txt', 'ex/x/y/']);
    // The reference's example: files starting with "hom", without the .md ones (a pattern is
    // matched against a source itself and against paths inside a copied directory, relative to it).
    expect(under(all, 'mydir/')).toEqual(['mydir/', 'mydir/home.txt', 'mydir/y.txt']);
    const history = (await env.image('flags:1')).config.history.map((h) => h.created_by);
    expect(history).toContain('COPY --exclude=**/*.md --exclude=x/y/c.txt src/ /ex/ # buildkit');

    // A change to an excluded file is not a change to the step: the same image, all cached.
    await writeFile(join(ctx, 'src', 'x', 'y', 'd.md'), 'edited\n');
    const again = await env.build(['-q', '-t', 'flags:2', ctx]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim()).toBe(r.stdout.trim());
    // A copied one is.
    await writeFile(join(ctx, 'src', 'x', 'b.txt'), 'edited\n');
    const changed = await env.build(['-q', '-t', 'flags:3', ctx]);
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout.trim()).not.toBe(r.stdout.trim());
  }, 240_000);

  it('refuses --parents on ADD and an empty --exclude in one line', async () => {
    const ctx = await env.context({ 'a.txt': 'a', Dockerfile: 'FROM busybox:test\nADD --parents a.txt /d/\n' });
    const add = await env.build([ctx]);
    expect(add.code).not.toBe(0);
    expect(add.stderr.trim().split('\n').pop()).toBe('stevedore: failed to build: ADD: unknown flag --parents');
    await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox:test\nCOPY --exclude a.txt /d/\n');
    const ex = await env.build([ctx]);
    expect(ex.code).not.toBe(0);
    expect(ex.stderr.trim().split('\n').pop()).toBe('stevedore: failed to build: COPY --exclude needs a pattern (--exclude=PATTERN)');
  }, 120_000);
});

describe('stevedore build: COPY onto the base image', () => {
  it('follows the base\'s symlinks to the destination, copies up its directories with their owner and mode; the image runs', async () => {
    const ctx = await env.context({
      'f.txt': 'copied\n',
      Dockerfile: [
        'FROM busybox:test AS base',
        'RUN mkdir -m 700 /store && chown 5:6 /store && ln -s /store /link',
        'FROM base',
        'COPY f.txt /link/',
        'COPY f.txt /link/made/here/',
        '',
      ].join('\n'),
    });
    const r = await env.build(['-q', '-t', 'onto:1', ctx]);
    expect(r.code, r.stderr).toBe(0);
    const layers = await env.allEntries('onto:1');
    const first = byName(layers[layers.length - 2]!);
    expect([...first.keys()]).toEqual(['store/', 'store/f.txt']);
    expect(first.get('store/')).toMatchObject({ mode: 0o700, uid: 5, gid: 6 });
    expect(first.get('store/f.txt')).toMatchObject({ mode: 0o644, uid: 0, gid: 0, content: 'copied\n' });
    const second = byName(layers[layers.length - 1]!);
    expect([...second.keys()]).toEqual(['store/', 'store/made/', 'store/made/here/', 'store/made/here/f.txt']);
    expect(second.get('store/made/')).toMatchObject({ mode: 0o755, uid: 0, gid: 0 });
    // The last layer's files exist only in its blob until a container needs them.
    const run = await env.stevedore(['run', '--rm', 'onto:1', 'sh', '-c', 'cat /store/f.txt /link/made/here/f.txt; stat -c "%a %u:%g" /store']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe('copied\ncopied\n700 5:6\n');
  }, 180_000);
});
