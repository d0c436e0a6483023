// `stevedore build` end to end (as root, real runc and overlayfs): each instruction checked in the
// built image's config, history and layer tars, and the image run with `stevedore run`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildEnv, type BuildEnv } from './build-env.js';

let env: BuildEnv;
beforeAll(async () => {
  env = await buildEnv();
}, 120_000);
afterAll(async () => {
  await env?.close();
});

describe('stevedore build: instructions', () => {
  it('writes metadata instructions into the config and history as Docker does', async () => {
    const ctx = await env.context({
      Dockerfile: [
        '# syntax=docker/dockerfile:1',
        'ARG BASE=busybox',
        'FROM ${BASE}:test',
        'ARG VERSION=1.0',
        'LABEL org.example.version=$VERSION "other label"="two words"',
        'ENV APP_HOME=/srv/app \\',
        '    GREETING="hello world"',
        'ENV DERIVED=${APP_HOME}/bin',
        'EXPOSE 8080 53/udp',
        'VOLUME ["/data"]',
        'USER bob',
        'STOPSIGNAL SIGINT',
        'HEALTHCHECK --interval=10s --retries=2 CMD wget -q -O- http://localhost/ || exit 1',
        'ONBUILD RUN echo "triggered as $(id -un)" > /tmp/onbuild.txt',
        'MAINTAINER Stevedore Tests',
        'ENTRYPOINT ["/bin/sh", "-c"]',
        'CMD ["echo $GREETING"]',
        '',
      ].join('\n'),
    });
    const r = await env.build(['-t', 'meta:1', ctx]);
    expect(r.code, r.stderr).toBe(0);
    const img = await env.image('meta:1');
    const c = img.config.config;
    expect(c.Env).toEqual([expect.stringMatching(/^PATH=/), 'APP_HOME=/srv/app', 'GREETING=hello world', 'DERIVED=/srv/app/bin']);
    expect(c.Labels).toEqual({ 'org.example.version': '1.0', 'other label': 'two words' });
    expect(c.ExposedPorts).toEqual({ '8080/tcp': {}, '53/udp': {} });
    expect(c.Volumes).toEqual({ '/data': {} });
    expect(c.User).toBe('bob');
    expect(c.StopSignal).toBe('SIGINT');
    expect(c.Healthcheck).toEqual({ Test: ['CMD-SHELL', 'wget -q -O- http://localhost/ || exit 1'], Interval: 10e9, Retries: 2 });
    expect(c.OnBuild).toEqual(['RUN echo "triggered as $(id -un)" > /tmp/onbuild.txt']);
    expect(c.Entrypoint).toEqual(['/bin/sh', '-c']);
    expect(c.Cmd).toEqual(['echo $GREETING']);
    expect(img.config.author).toBe('Stevedore Tests');
    // Metadata only: no layer added, every history entry marked empty.
    expect(img.layers).toHaveLength(3);
    const own = img.config.history.slice(-12);
    expect(own.every((h) => h.empty_layer === true)).toBe(true);
    expect(own.map((h) => h.created_by)).toContain('ENV APP_HOME=/srv/app GREETING=hello world');
    expect(own.map((h) => h.created_by)).toContain('EXPOSE map[8080/tcp:{} 53/udp:{}]');
    // The image runs: ENTRYPOINT + CMD, as bob, with the ENV.
    const run = await env.stevedore(['run', '--rm', 'meta:1']);
    expect(run.stdout).toBe('hello world\n');
    const who = await env.stevedore(['run', '--rm', 'meta:1', 'id -un']);
    expect(who.stdout).toBe('bob\n');

    // ONBUILD triggers run when the image is used in FROM (right after it, as the base's USER), and are not passed on.
    const child = await env.context({ Dockerfile: 'FROM meta:1\nUSER root\nRUN cat /tmp/onbuild.txt\n' });
    const rc = await env.build(['--progress', 'plain', '-t', 'child:1', child]);
    expect(rc.code, rc.stderr).toBe(0);
    const childImg = await env.image('child:1');
    expect(childImg.config.config.OnBuild ?? null).toBeNull();
    const top = await env.layer(childImg.layers[childImg.layers.length - 1]!.digest);
    expect(rc.stderr).toMatch(/triggered as bob/);
    const trigger = (await Promise.all(childImg.layers.map((l) => env.layer(l.digest)))).flat().find((e) => e.name === 'tmp/onbuild.txt');
    expect(trigger).toMatchObject({ content: 'triggered as bob\n', uid: 1001 });
    expect(top).toBeDefined();
  }, 180_000);

  it('RUN: shell and exec forms, user, workdir, ARG vs ENV, deletions as whiteouts, replaced directories opaque', async () => {
    const ctx = await env.context({
      Dockerfile: [
        'FROM busybox:test',
        'ARG OVERRIDE=from-arg',
        'ARG ONLY_ARG=arg-value',
        'ENV OVERRIDE=from-env',
        'WORKDIR /work/dir',
        'RUN echo "$OVERRIDE $ONLY_ARG $(pwd)" > out.txt',
        'RUN ["/bin/sh", "-c", "mkdir -p /opq && echo old > /opq/old"]',
        'RUN rm /etc/layer-marker && rm -r /opq && mkdir /opq && echo new > /opq/new && ln /work/dir/out.txt /work/dir/hard.txt',
        'USER alice',
        'RUN id -u > /tmp/uid && echo "$HOME" > /tmp/home',
        'RUN true',
        '',
      ].join('\n'),
    });
    const r = await env.build(['--progress', 'plain', '-t', 'runs:1', ctx]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/#\d+ \[2\/7\] WORKDIR \/work\/dir/);
    const img = await env.image('runs:1');
    const layers = await env.allEntries('runs:1');
    const base = 3;
    // WORKDIR created the directory (a layer); RUN wrote the file there.
    expect(layers[base]!.map((e) => e.name)).toEqual(['work/', 'work/dir/']);
    expect(layers[base + 1]!.find((e) => e.name === 'work/dir/out.txt')?.content).toBe('from-env arg-value /work/dir\n');
    // Deleted file: whiteout; replaced directory: opaque marker; hardlink kept.
    const del = layers[base + 3]!;
    expect(del.map((e) => e.name)).toEqual(expect.arrayContaining(['etc/.wh.layer-marker', 'opq/', 'opq/.wh..wh..opq', 'opq/new']));
    // (tar order is lexical: the first name carries the data, the other links to it)
    expect(del.find((e) => e.name === 'work/dir/hard.txt')).toMatchObject({ type: 'file', content: 'from-env arg-value /work/dir\n' });
    expect(del.find((e) => e.name === 'work/dir/out.txt')).toMatchObject({ type: 'link', linkname: 'work/dir/hard.txt' });
    // No mount point of the container (/etc/hosts, /proc…) leaked into any layer.
    for (const l of layers.slice(base)) {
      expect(l.map((e) => e.name)).not.toContain('etc/hosts');
      expect(l.map((e) => e.name)).not.toContain('etc/resolv.conf');
    }
    const userLayer = layers[base + 4]!;
    expect(userLayer.find((e) => e.name === 'tmp/uid')).toMatchObject({ content: '1000\n', uid: 1000 });
    expect(userLayer.find((e) => e.name === 'tmp/home')?.content).toBe('/home/alice\n');
    // RUN true changed nothing: no layer, history says empty_layer.
    expect(img.layers).toHaveLength(base + 5);
    const last = img.config.history[img.config.history.length - 1]!;
    expect(last).toMatchObject({ created_by: 'RUN |2 OVERRIDE=from-arg ONLY_ARG=arg-value /bin/sh -c true # buildkit', empty_layer: true });
    const run = await env.stevedore(['run', '--rm', 'runs:1', 'sh', '-c', 'cat /work/dir/out.txt; ls /opq; cat /etc/layer-marker 2>&1 || true']);
    expect(run.stdout).toBe('from-env arg-value /work/dir\nnew\ncat: can\'t open \'/etc/layer-marker\': No such file or directory\n');
  }, 180_000);

  it('SHELL changes how shell forms run; heredocs run as scripts', async () => {
    const ctx = await env.context({
      Dockerfile: [
        'FROM busybox:test',
        'SHELL ["/bin/sh", "-ec"]',
        'RUN <<EOF',
        'echo one > /h1',
        'echo two >> /h1',
        'EOF',
        'RUN cat <<-TXT > /h2',
        '\tindented',
        '\tTXT',
        'RUN <<EOF',
        '#!/bin/sh',
        'echo "from $0" > /h3',
        'EOF',
        'CMD cat /h1',
        '',
      ].join('\n'),
    });
    const r = await env.build(['-t', 'here:1', ctx]);
    expect(r.code, r.stderr).toBe(0);
    const img = await env.image('here:1');
    expect(img.config.config.Cmd).toEqual(['/bin/sh', '-ec', 'cat /h1']);
    const files = (await env.allEntries('here:1')).flat();
    expect(files.find((e) => e.name === 'h1')?.content).toBe('one\ntwo\n');
    expect(files.find((e) => e.name === 'h2')?.content).toBe('indented\n');
    expect(files.find((e) => e.name === 'h3')?.content).toMatch(/^from /);
  }, 180_000);
});
