// The pieces of a bundle that are pure rules: Docker's entrypoint/cmd merge, the environment,
// user and group resolution, resolv.conf filtering, flag parsing, and paths resolved inside a
// rootfs whose symlinks try to point out of it.
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolvConfFor } from '../../engine/bundle/etc-files.js';
import { resolveInRootfs } from '../../engine/bundle/rootfs-path.js';
import { buildSpec, DEFAULT_PATH, mergeEnv, parseNofileHard, processArgs } from '../../engine/bundle/spec.js';
import { parseGroup, parsePasswd, resolveUser, resolveUserInRootfs } from '../../engine/bundle/user.js';
import { envFromFlag, parseCpus, parseMemory, parsePidsLimit } from '../../engine/containers/run-options.js';
import { GROUP, PASSWD } from '../helpers/engine-rootfs.js';

describe('entrypoint and cmd (Docker\'s rules)', () => {
  const image = { Entrypoint: ['/ep', '-x'], Cmd: ['a', 'b'] };
  it.each([
    [undefined, [], ['/ep', '-x', 'a', 'b']],
    [undefined, ['c'], ['/ep', '-x', 'c']],
    ['/other', [], ['/other']],
    ['/other', ['c'], ['/other', 'c']],
    ['', ['c', 'd'], ['c', 'd']],
  ] as const)('--entrypoint %j with %j', (ep, cmd, expected) => {
    expect(processArgs(image, ep, [...cmd])).toEqual(expected);
  });
  it('an image with only Cmd', () => {
    expect(processArgs({ Cmd: ['sh'] }, undefined, [])).toEqual(['sh']);
    expect(processArgs({ Entrypoint: null, Cmd: null }, undefined, [])).toEqual([]);
  });
});

describe('environment', () => {
  it('user values override the image\'s, PATH and HOME are defaulted', () => {
    const env = mergeEnv(['A=image', 'B=image'], ['B=user', 'C=user'], { hostname: 'h', home: '/home/x', terminal: false });
    expect(env).toEqual([`PATH=${DEFAULT_PATH}`, 'HOSTNAME=h', 'A=image', 'B=user', 'C=user', 'HOME=/home/x']);
    expect(mergeEnv(['PATH=/bin', 'HOME=/srv'], [], { hostname: 'h', home: '/root', terminal: true })).toEqual(['PATH=/bin', 'HOSTNAME=h', 'TERM=xterm', 'HOME=/srv']);
  });
  it('-e NAME takes the caller\'s value or nothing; bad names are refused', () => {
    expect(envFromFlag('X', { X: 'v' })).toBe('X=v');
    expect(envFromFlag('X', {})).toBeUndefined();
    expect(envFromFlag('X=', {})).toBe('X=');
    expect(() => envFromFlag('=v', {})).toThrow(/NAME=VALUE/);
  });
});

describe('users and groups', () => {
  const passwd = parsePasswd(PASSWD);
  const groups = parseGroup(GROUP);
  it.each([
    ['', { uid: 0, gid: 0, additionalGids: [], home: '/root' }],
    ['alice', { uid: 1000, gid: 1000, additionalGids: [10, 29], home: '/home/alice' }],
    ['1000', { uid: 1000, gid: 1000, additionalGids: [10, 29], home: '/home/alice' }],
    // A group given: exactly that group, no supplementary ones (runc's and docker's rule).
    ['bob:wheel', { uid: 1001, gid: 10, additionalGids: [], home: '/home/bob' }],
    ['1001:7', { uid: 1001, gid: 7, additionalGids: [], home: '/home/bob' }],
    ['1000:1000', { uid: 1000, gid: 1000, additionalGids: [], home: '/home/alice' }],
    ['5000:5000', { uid: 5000, gid: 5000, additionalGids: [], home: '/' }],
  ])('%j', (spec, expected) => {
    expect(resolveUser(spec, passwd, groups)).toEqual(expected);
  });
  it('unknown names and malformed specs are errors', () => {
    expect(() => resolveUser('carol', passwd, groups)).toThrow(/unable to find user carol/);
    expect(() => resolveUser('alice:nogrp', passwd, groups)).toThrow(/unable to find group nogrp/);
    expect(() => resolveUser('a:b:c', passwd, groups)).toThrow(/USER\[:GROUP\]/);
  });
});

describe('resolv.conf', () => {
  const host = '# generated\nsearch example.org\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 10.0.0.2\noptions edns0\n';
  it('drops loopback nameservers in a separate network namespace, keeps the host\'s file on the host network', () => {
    expect(resolvConfFor('none', host)).toBe('# generated\nsearch example.org\nnameserver 10.0.0.2\noptions edns0\n');
    expect(resolvConfFor('host', host)).toBe(host);
  });
});

describe('flags', () => {
  it('--memory units and minimum', () => {
    expect(parseMemory('64m')).toBe(64 * 1024 * 1024);
    expect(parseMemory('1g')).toBe(1024 ** 3);
    expect(parseMemory('7340032')).toBe(7340032);
    expect(() => parseMemory('1k')).toThrow(/minimum/);
    expect(() => parseMemory('x')).toThrow(/invalid --memory/);
  });
  it('--cpus and --pids-limit', () => {
    expect(parseCpus('1.5')).toBe(1.5);
    expect(() => parseCpus('-1')).toThrow();
    expect(parsePidsLimit('100')).toBe(100);
    expect(parsePidsLimit('-1')).toBeUndefined();
  });
});

describe('spec', () => {
  it('puts limits into linux.resources and never an rlimit above the caller\'s hard limit', () => {
    const spec = buildSpec({
      args: ['sh'],
      env: [],
      cwd: '/',
      user: { uid: 0, gid: 0, additionalGids: [], home: '/root' },
      terminal: false,
      hostname: 'h',
      network: 'none',
      readOnly: true,
      binds: [{ source: '/srv', destination: '/data', readOnly: true }],
      etc: { hosts: '/x/hosts', hostname: '/x/hostname', resolvConf: '/x/resolv.conf' },
      resources: { memory: 64 << 20, cpus: 1.5, pidsLimit: 10 },
      nofileHard: 20000,
    }) as { process: { rlimits: unknown[] }; root: unknown; mounts: { destination: string; options: string[] }[]; linux: { resources: unknown; namespaces: { type: string }[] } };
    expect(spec.process.rlimits).toEqual([{ type: 'RLIMIT_NOFILE', hard: 20000, soft: 20000 }]);
    expect(spec.root).toEqual({ path: 'rootfs', readonly: true });
    expect(spec.linux.resources).toMatchObject({ memory: { limit: 64 << 20 }, cpu: { quota: 150000, period: 100000 }, pids: { limit: 10 } });
    expect(spec.linux.namespaces.map((n) => n.type)).toContain('network');
    expect(spec.mounts.find((m) => m.destination === '/data')!.options).toContain('ro');
    expect(parseNofileHard('Max open files            1024                 20000                files\n')).toBe(20000);
  });

  it('with rootfsOverlay, makes the overlay the first mount, at /, before /proc and the binds', () => {
    const spec = buildSpec({
      args: ['sh'],
      env: [],
      cwd: '/',
      user: { uid: 0, gid: 0, additionalGids: [], home: '/root' },
      terminal: false,
      hostname: 'h',
      network: 'none',
      readOnly: false,
      rootfsOverlay: ['lowerdir=/s/top/fs:/s/base/fs', 'upperdir=/c/upper', 'workdir=/c/work'],
      binds: [],
      etc: { hosts: '/x/hosts', hostname: '/x/hostname', resolvConf: '/x/resolv.conf' },
      resources: {},
      nofileHard: 20000,
    }) as { root: unknown; mounts: { destination: string; type: string; options: string[] }[] };
    expect(spec.root).toEqual({ path: 'rootfs', readonly: false });
    expect(spec.mounts[0]).toEqual({ destination: '/', type: 'overlay', source: 'overlay', options: ['lowerdir=/s/top/fs:/s/base/fs', 'upperdir=/c/upper', 'workdir=/c/work'] });
    expect(spec.mounts[1]!.destination).toBe('/proc');
    expect(spec.mounts.filter((m) => m.type === 'overlay')).toHaveLength(1);
  });
});

describe('paths inside a rootfs', () => {
  let rootfs: string;
  let outside: string;
  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rootfs-path-'));
    rootfs = join(dir, 'rootfs');
    outside = join(dir, 'outside');
    await mkdir(join(rootfs, 'etc'), { recursive: true });
    await mkdir(outside);
    await writeFile(join(outside, 'passwd'), 'evil:x:0:0::/:/bin/sh\n');
    // Hostile links: absolute, relative with .., and through a symlinked directory.
    await symlink(`${outside}/passwd`, join(rootfs, 'etc', 'passwd'));
    await symlink('../../../../../../outside/passwd', join(rootfs, 'etc', 'group'));
    await symlink('/', join(rootfs, 'up'));
    await symlink('../..', join(rootfs, 'etc', 'parent'));
  });
  afterAll(async () => {
    await rm(join(rootfs, '..'), { recursive: true, force: true });
  });

  it('follows symlinks as the container would: never out of the rootfs', async () => {
    expect(await resolveInRootfs(rootfs, '/etc/passwd')).toBe(join(rootfs, outside, 'passwd'));
    expect(await resolveInRootfs(rootfs, '/etc/group')).toBe(join(rootfs, 'outside', 'passwd'));
    expect(await resolveInRootfs(rootfs, '/up/up/etc/x')).toBe(join(rootfs, 'etc', 'x'));
    expect(await resolveInRootfs(rootfs, '/etc/parent/../../etc')).toBe(join(rootfs, 'etc'));
  });

  it('a user lookup through hostile links reads nothing of the host', async () => {
    await expect(resolveUserInRootfs(rootfs, 'evil')).rejects.toThrow(/unable to find user evil/);
  });
});
