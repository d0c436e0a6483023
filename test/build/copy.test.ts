// COPY and ADD end to end: Docker's path rules, --chown/--chmod, wildcards, --from a stage,
// heredocs, ADD's archive unpacking, .dockerignore, and a hostile context that cannot reach out.
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEnv, byName, type BuildEnv } from './build-env.js';

let env: BuildEnv;
beforeAll(async () => {
  env = await buildEnv();
}, 120_000);
afterAll(async () => {
  await env?.close();
});


describe('stevedore build: COPY and ADD', () => {
  it('copies files and directory contents with Docker\'s rules, owners and modes', async () => {
    const ctx = await env.context({
      'app/main.sh': 'echo main\n',
      'app/lib/util.sh': 'echo util\n',
      'one.txt': 'one\n',
      'a.conf': 'a\n',
      'b.conf': 'b\n',
      'c.txt': 'c\n',
      Dockerfile: [
        'FROM busybox:test',
        'WORKDIR /srv',
        'COPY app /dest/app-contents',
        'COPY one.txt rel/',
        'COPY one.txt /renamed.txt',
        'COPY *.conf /confs/',
        'COPY --chown=alice:wheel --chmod=640 one.txt c.txt /owned/',
        'COPY --chown=1234 one.txt /numeric.txt',
        'COPY <<EOF /etc/motd',
        'welcome to $HOSTNAME_UNSET${NAME:-the image}',
        'EOF',
        '',
      ].join('\n'),
    });
    await chmod(join(ctx, 'app', 'main.sh'), 0o755);
    const r = await env.build(['-t', 'copy:1', ctx]);
    expect(r.code, r.stderr).toBe(0);
    const layers = await env.allEntries('copy:1');
    const all = byName(layers.slice(3).flat());
    // A directory source copies its contents, not itself; modes kept; owner root for the context.
    expect(all.get('dest/app-contents/main.sh')).toMatchObject({ mode: 0o755, uid: 0, gid: 0, content: 'echo main\n' });
    expect(all.get('dest/app-contents/lib/util.sh')?.content).toBe('echo util\n');
    expect(all.has('dest/app-contents/app/')).toBe(false);
    // Relative destinations are under WORKDIR; a trailing slash keeps the name.
    expect(all.get('srv/rel/one.txt')?.content).toBe('one\n');
    expect(all.get('renamed.txt')?.content).toBe('one\n');
    // Wildcards (filepath.Match): only the .conf files.
    expect([...all.keys()].filter((k) => k.startsWith('confs/')).sort()).toEqual(['confs/', 'confs/a.conf', 'confs/b.conf']);
    // --chown by name (the image's /etc/passwd and /etc/group), --chmod.
    expect(all.get('owned/one.txt')).toMatchObject({ uid: 1000, gid: 10, mode: 0o640 });
    expect(all.get('owned/c.txt')).toMatchObject({ uid: 1000, gid: 10, mode: 0o640 });
    // A uid without a group: the same number as gid.
    expect(all.get('numeric.txt')).toMatchObject({ uid: 1234, gid: 1234 });
    // A heredoc becomes the file; variables expand.
    expect(all.get('etc/motd')?.content).toBe('welcome to the image\n');
    const img = await env.image('copy:1');
    expect(img.config.history.map((h) => h.created_by)).toContain('COPY --chown=alice:wheel --chmod=640 one.txt c.txt /owned/ # buildkit');
  }, 180_000);

  it('refuses several sources to a destination without a trailing slash, and missing sources', async () => {
    const ctx = await env.context({ 'a.txt': 'a', 'b.txt': 'b', Dockerfile: 'FROM busybox:test\nCOPY a.txt b.txt /dest\n' });
    const r = await env.build([ctx]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/the destination must be a directory and end with a \//);
    expect(r.stderr.trim().split('\n').pop()).toMatch(/^stevedore: failed to build: /);
    const ctx2 = await env.context({ Dockerfile: 'FROM busybox:test\nCOPY nope.txt /x\n' });
    const r2 = await env.build([ctx2]);
    expect(r2.code).not.toBe(0);
    expect(r2.stderr).toMatch(/"\/nope.txt": not found/);
    expect(await env.leftovers()).toEqual([]);
  }, 120_000);

  it('COPY --from a stage keeps owners; ADD unpacks a local tar archive', async () => {
    const ctx = await env.context({
      Dockerfile: [
        'FROM busybox:test AS build',
        'RUN mkdir -p /out/sub && echo built > /out/sub/artifact && chown 1001:1001 /out/sub/artifact && ln -s sub/artifact /out/link',
        'FROM busybox:test',
        'COPY --from=build /out /app/',
        'ADD bundle.tar.gz /unpacked/',
        'ADD bundle.tar.gz /notdir.tar.gz.d/',
        '',
      ].join('\n'),
    });
    const src = join(ctx, 'tarsrc');
    await mkdir(join(src, 'pkg'), { recursive: true });
    await writeFile(join(src, 'pkg', 'file.txt'), 'from the archive\n');
    execFileSync('tar', ['-czf', join(ctx, 'bundle.tar.gz'), '-C', src, '--owner=42', '--group=43', 'pkg']);
    const r = await env.build(['--progress', 'plain', '-t', 'from:1', ctx]);
    expect(r.code, r.stderr).toBe(0);
    const all = byName((await env.allEntries('from:1')).slice(3).flat());
    expect(all.get('app/sub/artifact')).toMatchObject({ uid: 1001, gid: 1001, content: 'built\n' });
    expect(all.get('app/link')).toMatchObject({ type: 'symlink', linkname: 'sub/artifact' });
    expect(all.get('unpacked/pkg/file.txt')).toMatchObject({ uid: 42, gid: 43, content: 'from the archive\n' });
  }, 180_000);

  it('.dockerignore hides files (with ! exceptions); a hostile context cannot read outside itself', async () => {
    const outside = join(env.dir, 'outside-secret');
    await writeFile(outside, 'host secret\n');
    const ctx = await env.context({
      '.dockerignore': '# comment\n*.log\nsecrets/\n!keep.log\n',
      'a.log': 'ignored\n',
      'keep.log': 'kept\n',
      'secrets/key': 'never\n',
      'ok.txt': 'ok\n',
      Dockerfile: 'FROM busybox:test\nCOPY . /ctx/\nCOPY ../../../outside-secret /dotdot/\nCOPY rel-link /rel\n',
    });
    // Symlinks pointing outside: resolved as if the context were /, so they cannot leave it.
    await symlink(outside, join(ctx, 'abs-link'));
    await symlink('../../outside-secret', join(ctx, 'rel-link'));
    await writeFile(join(ctx, 'outside-secret'), 'the context\'s own file\n');
    const r = await env.build(['-t', 'ignore:1', ctx]);
    expect(r.code, r.stderr).toBe(0);
    const all = byName((await env.allEntries('ignore:1')).slice(3).flat());
    expect(all.has('ctx/a.log')).toBe(false);
    expect(all.has('ctx/secrets/key')).toBe(false);
    expect(all.get('ctx/keep.log')?.content).toBe('kept\n');
    expect(all.get('ctx/ok.txt')?.content).toBe('ok\n');
    for (const e of all.values()) expect(e.content ?? '').not.toContain('host secret');
    expect(all.get('dotdot/outside-secret')?.content).toBe('the context\'s own file\n');
    expect(all.get('rel')?.content).toBe('the context\'s own file\n');
    // Symlinks inside a copied directory stay symlinks (never followed on the host).
    expect(all.get('ctx/abs-link')).toMatchObject({ type: 'symlink', linkname: outside });
    // An absolute link to a host file names a path inside the context, which is not there.
    await writeFile(join(ctx, 'Dockerfile'), 'FROM busybox:test\nCOPY abs-link /abs\n');
    const abs = await env.build([ctx]);
    expect(abs.code).not.toBe(0);
    expect(abs.stderr).toMatch(/"\/abs-link": not found/);
    expect(abs.stderr).not.toContain('host secret');
  }, 180_000);
});
