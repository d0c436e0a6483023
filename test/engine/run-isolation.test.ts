// What a container may and may not do: bind mounts (read-only ones refuse writes), a read-only
// root, resource limits that bite (a memory allocation over --memory is killed), the network
// namespace of --network none/host, Docker's default capabilities, masked /proc paths, and rlimits no
// higher than the caller's. Real runc, real overlayfs, as root.
import { readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineEnv, type EngineEnv } from '../helpers/engine-cli.js';

let e: EngineEnv;

beforeAll(async () => {
  e = await engineEnv();
});

afterAll(async () => {
  await e?.close();
});

describe('bind mounts', () => {
  it('-v HOST:CTR shares a host directory both ways; :ro refuses writes', async () => {
    const shared = join(e.dir, 'shared');
    await mkdir(shared);
    await writeFile(join(shared, 'from-host.txt'), 'host data\n');
    const rw = await e.stevedore(['run', '--rm', '-v', `${shared}:/mnt/rw`, 'busybox:test', 'sh', '-c', 'cat /mnt/rw/from-host.txt && echo written > /mnt/rw/from-container.txt']);
    expect(rw).toMatchObject({ code: 0, stdout: 'host data\n' });
    expect(await readFile(join(shared, 'from-container.txt'), 'utf8')).toBe('written\n');

    const ro = await e.stevedore(['run', '--rm', '-v', `${shared}:/mnt/ro:ro`, 'busybox:test', 'sh', '-c', 'cat /mnt/ro/from-host.txt; echo more > /mnt/ro/other.txt']);
    expect(ro.code).not.toBe(0);
    expect(ro.stdout).toBe('host data\n');
    expect(ro.stderr).toMatch(/Read-only file system/);
    expect(await readdir(shared)).not.toContain('other.txt');
  });

  it('a bad -v is a one-line error', async () => {
    const r = await e.stevedore(['run', '--rm', '-v', 'my volume:/data', 'busybox:test', 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe('stevedore: -v my volume:/data: "my volume" is neither a host path (absolute or ./relative) nor a volume name\n');
  });
});

describe('read-only root', () => {
  it('--init runs docker\'s init as PID 1 with the command as its child; the exit status is the command\'s', async () => {
    const r = await e.stevedore(['run', '--rm', '--init', 'busybox:test', 'sh', '-c', 'tr "\\0" " " < /proc/1/cmdline; echo; echo $$']);
    expect(r.code, r.stderr).toBe(0);
    const [pid1, shellPid] = r.stdout.trim().split('\n');
    expect(pid1!.trim()).toMatch(/^\/sbin\/docker-init -- sh -c /);
    expect(Number(shellPid)).toBeGreaterThan(1);
    expect((await e.stevedore(['run', '--rm', '--init', 'busybox:test', 'sh', '-c', 'exit 3'])).code).toBe(3);
    const plain = await e.stevedore(['run', '--rm', 'busybox:test', 'sh', '-c', 'echo $$']);
    expect(plain.stdout.trim()).toBe('1');
  });

  it('--cap-add and --cap-drop change the process\'s capabilities (CapEff bits 12 NET_ADMIN, 13 NET_RAW)', async () => {
    const capEff = async (...flags: string[]) => {
      const r = await e.stevedore(['run', '--rm', ...flags, 'busybox:test', 'grep', 'CapEff', '/proc/self/status']);
      expect(r.code, r.stderr).toBe(0);
      return BigInt(`0x${r.stdout.trim().split(/\s+/)[1]}`);
    };
    const base = await capEff();
    expect(base & (1n << 13n)).not.toBe(0n); // docker's default set has NET_RAW, not NET_ADMIN
    expect(base & (1n << 12n)).toBe(0n);
    expect(await capEff('--cap-drop', 'NET_RAW', '--cap-add', 'net_admin')).toBe((base & ~(1n << 13n)) | (1n << 12n));
    expect(await capEff('--cap-drop', 'ALL')).toBe(0n);
    const bad = await e.stevedore(['run', '--rm', '--cap-add', 'NET_WIZARD', 'busybox:test', 'true']);
    expect([bad.code, bad.stderr]).toEqual([125, 'stevedore: unknown capability: "NET_WIZARD"\n']);
  });

  it('--read-only refuses writes to the root filesystem, /dev/shm stays writable', async () => {
    const r = await e.stevedore(['run', '--rm', '--read-only', 'busybox:test', 'sh', '-c', 'echo ok > /dev/shm/x && cat /dev/shm/x; touch /newfile']);
    expect(r.stdout).toBe('ok\n');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Read-only file system/);
  });
});

describe('resource limits', () => {
  it('an allocation over --memory is killed; the same without the limit is not', async () => {
    // tail keeps the whole 200 MiB line in memory.
    const hog = ['sh', '-c', 'head -c 200m /dev/zero | tail > /dev/null'];
    expect((await e.stevedore(['run', '--rm', '--memory', '48m', 'busybox:test', ...hog])).code).toBe(137);
    expect((await e.stevedore(['run', '--rm', 'busybox:test', ...hog])).code).toBe(0);
  });

  it('--pids-limit stops forks beyond it', async () => {
    const r = await e.stevedore(['run', '--rm', '--pids-limit', '8', 'busybox:test', 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 60 & done; wait 2>/dev/null; true']);
    expect(r.stderr).toMatch(/can't fork|Resource temporarily unavailable/);
  });

  it('--memory, --cpus and --pids-limit are the container cgroup\'s limits', async () => {
    const out = await e.ok([
      'run', '--rm', '--memory', '64m', '--cpus', '0.5', '--pids-limit', '50', 'busybox:test', 'sh', '-c',
      'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/pids/pids.max',
    ]);
    expect(out.split('\n').slice(0, 4)).toEqual([String(64 * 1024 * 1024), '50000', '100000', '50']);
  });

  it('asks for no file-descriptor limit above the caller\'s hard limit', async () => {
    const line = (await readFile('/proc/self/limits', 'utf8')).split('\n').find((l) => l.startsWith('Max open files'))!;
    const hard = line.trim().split(/\s+/)[4]!;
    const expected = hard === 'unlimited' ? 1048576 : Math.min(1048576, Number(hard));
    expect(await e.ok(['run', '--rm', 'busybox:test', 'sh', '-c', 'ulimit -Hn; ulimit -Sn'])).toBe(`${expected}\n${expected}\n`);
  });
});

describe('network', () => {
  it('--network none: a namespace of its own with only lo, up', async () => {
    const out = await e.ok(['run', '--rm', '--network', 'none', 'busybox:test', 'sh', '-c', 'ls /sys/class/net; ip -o link show lo']);
    const [ifaces, lo] = [out.split('\n').slice(0, -2), out.split('\n').at(-2)!];
    expect(ifaces).toEqual(['lo']);
    expect(lo).toMatch(/<LOOPBACK,UP,LOWER_UP>/);
  });

  it('--network none: resolv.conf has no loopback nameservers', async () => {
    const out = await e.ok(['run', '--rm', '--network', 'none', 'busybox:test', 'cat', '/etc/resolv.conf']);
    expect(out).not.toMatch(/^\s*nameserver\s+(127\.|::1)/m);
  });

  it('--network host: the host\'s interfaces and resolv.conf', async () => {
    // Containers' veths and bridges (of other tests and engine roots) come and go meanwhile.
    const steady = (names: string[]) => names.filter((n) => n && !/^(veth|stv)/.test(n)).sort();
    const hostIfaces = steady(await readdir('/sys/class/net'));
    const out = await e.ok(['run', '--rm', '--network', 'host', 'busybox:test', 'ls', '/sys/class/net']);
    expect(steady(out.trim().split('\n'))).toEqual(hostIfaces);
    const resolv = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
    expect(await e.ok(['run', '--rm', '--network', 'host', 'busybox:test', 'cat', '/etc/resolv.conf'])).toBe(resolv);
  });

  it('the default is the bridge network (test/engine/network.test.ts): its own eth0 and lo', async () => {
    expect(await e.ok(['run', '--rm', 'busybox:test', 'ls', '/sys/class/net'])).toBe('eth0\nlo\n');
  });
});

describe('privileges', () => {
  it('has Docker\'s default capabilities only', async () => {
    const out = await e.ok(['run', '--rm', 'busybox:test', 'grep', '-E', '^Cap(Eff|Bnd)', '/proc/self/status']);
    // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP
    expect(out).toBe('CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n');
    // So mounting, for one, is refused even to root.
    const r = await e.stevedore(['run', '--rm', 'busybox:test', 'mount', '-t', 'tmpfs', 'tmpfs', '/mnt']);
    expect(r.code).not.toBe(0);
  });

  it('masks /proc/timer_list (the host\'s timers) and keeps /proc/sys read-only', async () => {
    // (/proc/kcore, also masked, does not exist on every kernel.)
    expect((await readFile('/proc/timer_list', 'utf8')).length).toBeGreaterThan(0);
    const r = await e.stevedore(['run', '--rm', 'busybox:test', 'sh', '-c', 'wc -c < /proc/timer_list; echo 1 > /proc/sys/kernel/ns_last_pid']);
    expect(r.stdout).toBe('0\n');
    expect(r.stderr).toMatch(/Read-only file system/);
  });
});
