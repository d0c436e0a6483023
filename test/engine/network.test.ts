// Engine networking end to end, as root with real runc and the real CNI plugins (Debian
// containernetworking-plugins): the default bridge, published ports (tcp, udp, -P) answering on
// 127.0.0.1, the host's address and from other containers; user networks resolving names and
// aliases, isolated from each other; --internal; connect/disconnect of a running container;
// a port in use; rm -f and a crashed container releasing everything; and the host's links and
// iptables rules compared before and after. Traffic stays on this machine (loopback, the host's
// own address, our namespaces). busybox's wget crashes here (static glibc), so HTTP is spoken
// with nc.
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineEnv, type EngineEnv } from '../helpers/engine-cli.js';
import { buildBusyboxLayers, TEST_PATH, writeDockerArchive } from '../helpers/engine-rootfs.js';

let e: EngineEnv;
let before: HostState;
const hostIP = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)!.address;

interface HostState {
  links: string[];
  rules: string[];
}

/** Every bridge and /24 this test's root ever had (other engineers' roots share the host). */
const ours = { bridges: new Set<string>(), nets: new Set<string>(), ids: new Set<string>() };
function noteOurNetworks(): void {
  const dir = join(e.root, 'networks');
  for (const f of existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith('.json')) : []) {
    const n = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { bridge: string; subnet: string };
    ours.bridges.add(n.bridge);
    ours.nets.add(n.subnet.split('.').slice(0, 3).join('.') + '.');
  }
  const containers = join(e.root, 'containers');
  for (const id of existsSync(containers) ? readdirSync(containers).filter((n) => /^[0-9a-f]{64}$/.test(n)) : []) ours.ids.add(id);
}

const masterOf = (link: string) => {
  try {
    return basename(readlinkSync(`/sys/class/net/${link}/master`));
  } catch {
    return '';
  }
};

/**
 * The links and rules networking made for this root: its bridges, the veths on them, and every
 * rule naming one of its bridges or addresses (its networks' rules, the plugins' port rules).
 */
function hostState(): HostState {
  if (e) noteOurNetworks();
  const bridges = [...ours.bridges];
  const links = readdirSync('/sys/class/net')
    .filter((l) => bridges.includes(l) || (/^veth/.test(l) && bridges.includes(masterOf(l))))
    .sort();
  const rules = ['filter', 'nat']
    .flatMap((t) => execFileSync('iptables', ['-w', '-t', t, '-S'], { encoding: 'utf8' }).split('\n').map((l) => `${t} ${l}`))
    .filter((l) => bridges.some((b) => l.includes(b)) || [...ours.nets].some((n) => l.includes(n)))
    .sort();
  return { links, rules };
}

/**
 * Only what carries this root's identity: its bridges, and rules naming its bridges or its
 * containers' ids (the plugins' comments). Addresses alone are not enough at the end: another
 * root may have taken the same subnet meanwhile.
 */
function ownState(): HostState {
  const { links } = hostState();
  const names = [...ours.bridges, ...ours.ids];
  const rules = ['filter', 'nat']
    .flatMap((t) => execFileSync('iptables', ['-w', '-t', t, '-S'], { encoding: 'utf8' }).split('\n').map((l) => `${t} ${l}`))
    .filter((l) => names.some((n) => l.includes(n)))
    .sort();
  return { links, rules };
}

/** Chains and jumps only networking makes: with no network of any root left, none may stay. */
function sharedChains(): string[] {
  return ['filter', 'nat'].flatMap((t) => execFileSync('iptables', ['-w', '-t', t, '-S'], { encoding: 'utf8' }).split('\n').filter((l) => /STEVEDORE|CNI-/.test(l)));
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function httpGet(host: string, port: number): Promise<string> {
  const r = await fetch(`http://${host}:${port}/`, { signal: AbortSignal.timeout(10_000) });
  return r.text();
}

const ncGet = (host: string, port: number) => `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} ${port}`;

interface Inspected {
  name: string;
  state: string;
  network?: { netns: string; ports: { hostPort: number; containerPort: number; protocol: string }[]; attachments: { network: string; ip: string; ifName: string; mac?: string }[] };
}
async function inspect(name: string): Promise<Inspected> {
  return (JSON.parse(await e.ok(['container', 'inspect', name])) as Inspected[])[0]!;
}

beforeAll(async () => {
  before = ownState();
  e = await engineEnv();
  const layers = await buildBusyboxLayers(join(e.dir, 'web-layers'));
  const archive = join(e.dir, 'web.tar');
  await writeDockerArchive(archive, layers, [
    {
      tag: 'web:test',
      config: { Env: [`PATH=${TEST_PATH}`], Cmd: ['sh', '-c', 'mkdir -p /www && echo "hello from $(hostname)" > /www/index.html && exec httpd -f -p 80 -h /www'], ExposedPorts: { '80/tcp': {}, '5353/udp': {} } },
    },
  ]);
  await e.ok(['load', '-q', '-i', archive]);
}, 180_000);

afterAll(async () => {
  // After a failed test: its containers, then its networks, so no bridge or rule outlives the run.
  await e?.reset();
  for (const n of ['neta', 'netb', 'inner']) await e?.stevedore(['network', 'rm', n]);
  await e?.close();
});

describe('published ports on the default bridge', () => {
  it('run -d -p HOST:80 answers on 127.0.0.1, the host address and from another container; port, ps and inspect show it', async () => {
    const port = await freePort();
    await e.ok(['run', '-d', '--name', 'web', '-p', `${port}:80`, 'web:test']);
    await e.waitRunning('web');
    const c = await inspect('web');
    expect(c.network!.attachments).toEqual([expect.objectContaining({ network: 'bridge', ifName: 'eth0', ip: expect.stringMatching(/^10\.90\./) })]);
    const hostname = (await e.ok(['exec', 'web', 'hostname'])).trim();
    await e.waitFor('httpd to answer', () => httpGet('127.0.0.1', port).catch(() => undefined));
    expect(await httpGet('127.0.0.1', port)).toBe(`hello from ${hostname}\n`);
    expect(await httpGet(hostIP, port)).toBe(`hello from ${hostname}\n`);
    // Another container, through the host's address (DNAT back onto the same bridge).
    expect(await e.ok(['run', '--rm', 'busybox:test', 'sh', '-c', ncGet(hostIP, port)])).toContain(`hello from ${hostname}`);
    // Hairpin: the container itself through its published port.
    expect(await e.ok(['exec', 'web', 'sh', '-c', ncGet(hostIP, port)])).toContain(`hello from ${hostname}`);
    expect(await e.ok(['port', 'web'])).toBe(`80/tcp -> 0.0.0.0:${port}\n`);
    expect(await e.ok(['port', 'web', '80'])).toBe(`0.0.0.0:${port}\n`);
    expect(await e.ok(['ps'])).toMatch(new RegExp(`0\\.0\\.0\\.0:${port}->80/tcp +web`));
    expect(c.network!.ports).toEqual([{ hostIP: '', hostPort: port, containerPort: 80, protocol: 'tcp' }]);
  });

  it('a published host port already in use fails run with one line and leaves nothing behind', async () => {
    const taken = await freePort();
    const server: Server = await new Promise((resolve) => {
      const s = createServer().listen(taken, '127.0.0.1', () => resolve(s));
    });
    try {
      const stateBefore = hostState();
      const dirs = await e.containerDirs();
      const r = await e.stevedore(['run', '-d', '--name', 'clash', '-p', `${taken}:80`, 'web:test']);
      expect(r.code).toBe(125);
      expect(r.stderr).toMatch(new RegExp(`^stevedore: host port ${taken}/tcp is already in use .*\\n$`));
      expect(await e.containerDirs()).toEqual(dirs);
      expect(hostState()).toEqual(stateBefore);
      // So is a port another container publishes.
      const { hostPort } = (await inspect('web')).network!.ports[0]!;
      const again = await e.stevedore(['run', '--rm', '-p', `${hostPort}:80`, 'web:test', 'true']);
      expect(again.code).toBe(125);
      expect(again.stderr).toMatch(/another container publishes it/);
      // And a udp port a program on the host holds.
      const udp = createSocket('udp4');
      await new Promise<void>((resolve) => udp.bind(0, '0.0.0.0', resolve));
      try {
        const r2 = await e.stevedore(['run', '-d', '-p', `${udp.address().port}:5353/udp`, 'web:test']);
        expect(r2).toMatchObject({ code: 125, stderr: `stevedore: host port ${udp.address().port}/udp is already in use (a program on the host listens on it): publish another one, e.g. -p ${udp.address().port + 1}:5353/udp\n` });
      } finally {
        udp.close();
      }
      expect(await e.containerDirs()).toEqual(dirs);
      expect(hostState()).toEqual(stateBefore);
    } finally {
      server.close();
    }
  });

  it('-P publishes every EXPOSEd port (tcp and udp) on free host ports; a udp datagram reaches the container', async () => {
    await e.ok(['run', '-d', '--name', 'all', '-P', 'web:test']);
    await e.waitRunning('all');
    const ports = (await inspect('all')).network!.ports;
    expect(ports.map((p) => `${p.containerPort}/${p.protocol}`).sort()).toEqual(['5353/udp', '80/tcp']);
    const tcp = ports.find((p) => p.protocol === 'tcp')!.hostPort;
    const udp = ports.find((p) => p.protocol === 'udp')!.hostPort;
    expect(await e.waitFor('httpd', () => httpGet('127.0.0.1', tcp).catch(() => undefined))).toMatch(/^hello from /);
    // busybox has no udp server here: the container's own kernel counts the datagram that arrived
    // for a port nothing listens on (Udp NoPorts of its namespace), which only DNAT could bring.
    const noPorts = async () => {
      const [names, values] = (await e.ok(['exec', 'all', 'cat', '/proc/net/snmp'])).split('\n').filter((l) => l.startsWith('Udp:'));
      return Number(values!.split(/\s+/)[names!.split(/\s+/).indexOf('NoPorts')]);
    };
    const start = await noPorts();
    const sock = createSocket('udp4');
    sock.on('error', () => {}); // the container answers "port unreachable"
    try {
      await e.waitFor('the udp datagram in the container', async () => {
        sock.send('datagram-over-udp\n', udp, hostIP);
        return (await noPorts()) > start;
      });
    } finally {
      sock.close();
      await e.ok(['rm', '-f', 'all']);
    }
  });

  it('rm -f of a running container releases its address, veth, namespace and rules', async () => {
    const c = await inspect('web');
    const { ip } = c.network!.attachments[0]!;
    const port = c.network!.ports[0]!.hostPort;
    const rulesWith = () => hostState().rules.filter((l) => l.includes(ip) || l.includes(`--dport ${port}`));
    expect(rulesWith().length).toBeGreaterThan(0);
    expect(existsSync(c.network!.netns)).toBe(true);
    await e.ok(['rm', '-f', 'web']);
    expect(rulesWith()).toEqual([]);
    expect(existsSync(c.network!.netns)).toBe(false);
    const leases = join(e.root, 'networks', 'ipam', 'bridge');
    expect(existsSync(leases) ? readdirSync(leases) : []).not.toContain(ip);
    await expect(httpGet('127.0.0.1', port)).rejects.toThrow();
  });

  it('stop releases the address, namespace and port rules; start and restart bring the published port back', async () => {
    const port = await freePort();
    await e.ok(['run', '-d', '--name', 'st', '-p', `${port}:80`, 'web:test']);
    await e.waitRunning('st');
    const c = await inspect('st');
    const { ip } = c.network!.attachments[0]!;
    await e.waitFor('httpd', () => httpGet('127.0.0.1', port).catch(() => undefined));
    await e.ok(['stop', '-t', '1', 'st']);
    const after = (JSON.parse(await e.ok(['container', 'inspect', 'st'])) as (Inspected & { hostConfig: { networking: { ports: unknown[] } } })[])[0]!;
    expect(after.state).toBe('exited');
    expect(after.network).toBeUndefined();
    expect(after.hostConfig.networking.ports).toEqual([{ hostIP: '', hostPort: port, containerPort: 80, protocol: 'tcp' }]);
    expect(existsSync(c.network!.netns)).toBe(false);
    expect(hostState().rules.filter((l) => l.includes(ip) || l.includes(`--dport ${port}`))).toEqual([]);
    expect(await e.ok(['port', 'st'])).toBe('');
    // The port is free again: another container can publish it.
    await e.ok(['run', '--rm', '-p', `${port}:80`, 'web:test', 'true']);
    // start brings the published port back, as docker does.
    await e.ok(['start', 'st']);
    await e.waitRunning('st');
    const hostname = (await e.ok(['exec', 'st', 'hostname'])).trim();
    await e.waitFor('httpd after start', () => httpGet('127.0.0.1', port).catch(() => undefined));
    expect(await httpGet('127.0.0.1', port)).toBe(`hello from ${hostname}\n`);
    expect(await e.ok(['port', 'st'])).toBe(`80/tcp -> 0.0.0.0:${port}\n`);
    await e.ok(['restart', '-t', '1', 'st']);
    await e.waitFor('httpd after restart', () => httpGet('127.0.0.1', port).catch(() => undefined));
    await e.ok(['rm', '-f', 'st']);
    expect(hostState().rules.filter((l) => l.includes(`--dport ${port}`))).toEqual([]);
  });

  it('--network container:NAME shares the other container\'s namespace (same address, its localhost)', async () => {
    await e.ok(['run', '-d', '--name', 'host1', 'web:test']);
    await e.waitRunning('host1');
    const { ip } = (await inspect('host1')).network!.attachments[0]!;
    const out = await e.ok(['run', '--rm', '--network', 'container:host1', 'busybox:test', 'sh', '-c', `ip -o -4 addr show eth0; ${ncGet('127.0.0.1', 80)} | tail -1`]);
    expect(out).toContain(`inet ${ip}/`);
    expect(out).toMatch(/hello from /);
    await e.ok(['rm', '-f', 'host1']);
  });

  it('concurrent runs get distinct addresses and distinct free host ports', async () => {
    const names = ['p1', 'p2', 'p3'];
    await Promise.all(names.map((n) => e.ok(['run', '-d', '--name', n, '-p', '80', 'web:test'])));
    for (const n of names) await e.waitRunning(n);
    const all = await Promise.all(names.map(inspect));
    expect(new Set(all.map((c) => c.network!.attachments[0]!.ip)).size).toBe(3);
    const ports = all.map((c) => c.network!.ports[0]!.hostPort);
    expect(new Set(ports).size).toBe(3);
    for (const p of ports) expect(await e.waitFor(`httpd on ${p}`, () => httpGet('127.0.0.1', p).catch(() => undefined))).toMatch(/^hello from /);
    await e.ok(['rm', '-f', ...names]);
  });

  it('--network none and host are unchanged: no bridge, no namespace file', async () => {
    expect(await e.ok(['run', '--rm', '--network', 'none', 'busybox:test', 'ls', '/sys/class/net'])).toBe('lo\n');
    // Containers' veths and bridges (other engine roots' too) come and go meanwhile: the rest is compared.
    const steady = (names: string[]) => names.filter((n) => n && !/^(veth|stv)/.test(n)).sort();
    expect(steady((await e.ok(['run', '--rm', '--network', 'host', 'busybox:test', 'ls', '/sys/class/net'])).split('\n'))).toEqual(steady(readdirSync('/sys/class/net')));
    const bad = await e.stevedore(['run', '--rm', '--network', 'host', '-p', '80', 'busybox:test', 'true']);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/^stevedore: -p\/-P need a bridge network/);
    const dirs = await e.containerDirs();
    const unknown = await e.stevedore(['run', '--rm', '--network', 'nosuch', 'busybox:test', 'true']);
    expect(unknown).toMatchObject({ code: 125, stderr: 'stevedore: no such network: nosuch (see stevedore network ls)\n' });
    expect(await e.containerDirs()).toEqual(dirs);
  });
});

describe('user networks', () => {
  it('names and aliases resolve on a network; another network cannot reach it; connect and disconnect take effect at once', async () => {
    await e.ok(['network', 'create', 'neta']);
    await e.ok(['network', 'create', '--subnet', '10.90.250.0/24', 'netb']);
    expect(await e.ok(['network', 'ls'])).toMatch(/netb +bridge +10\.90\.250\.0\/24/);
    await e.ok(['run', '-d', '--name', 'a1', '--network', 'neta', '--network-alias', 'alpha', 'web:test']);
    await e.ok(['run', '-d', '--name', 'a2', '--network', 'neta', 'busybox:test', 'sleep', '600']);
    await e.ok(['run', '-d', '--name', 'b1', '--network', 'netb', '--ip', '10.90.250.77', 'busybox:test', 'sleep', '600']);
    for (const n of ['a1', 'a2', 'b1']) await e.waitRunning(n);
    const a1ip = (await inspect('a1')).network!.attachments[0]!.ip;
    expect((await inspect('b1')).network!.attachments[0]!.ip).toBe('10.90.250.77');
    // a1 joined before a2: its hosts file was rewritten when a2 came.
    expect(await e.ok(['exec', 'a1', 'cat', '/etc/hosts'])).toMatch(/\ta2\n/);
    for (const name of ['a1', 'alpha']) expect(await e.ok(['exec', 'a2', 'sh', '-c', `${ncGet(name, 80)} | tail -1`])).toMatch(/^hello from /);
    expect(await e.ok(['exec', 'a2', 'ping', '-c', '1', '-W', '2', 'alpha'])).toContain(`from ${a1ip}`);
    // netb: neither the name nor the address of a1.
    expect((await e.stevedore(['exec', 'b1', 'ping', '-c', '1', '-W', '1', 'a1'])).code).not.toBe(0);
    expect((await e.stevedore(['exec', 'b1', 'sh', '-c', `nc -w 2 ${a1ip} 80 </dev/null`])).code).not.toBe(0);

    await e.ok(['network', 'connect', '--alias', 'beta', 'netb', 'a1']);
    expect(await e.ok(['exec', 'a1', 'ls', '/sys/class/net'])).toBe('eth0\neth1\nlo\n');
    expect(await e.ok(['exec', 'b1', 'sh', '-c', `${ncGet('beta', 80)} | tail -1`])).toMatch(/^hello from /);
    const inspected = JSON.parse(await e.ok(['network', 'inspect', 'netb'])) as { containers: Record<string, { Name: string }> }[];
    expect(Object.values(inspected[0]!.containers).map((c) => c.Name).sort()).toEqual(['a1', 'b1']);
    expect((await e.stevedore(['network', 'rm', 'netb'])).stderr).toMatch(/^stevedore: network netb is in use by container/);

    await e.ok(['network', 'disconnect', 'netb', 'a1']);
    expect(await e.ok(['exec', 'a1', 'ls', '/sys/class/net'])).toBe('eth0\nlo\n');
    expect((await e.stevedore(['exec', 'b1', 'ping', '-c', '1', '-W', '1', 'beta'])).code).not.toBe(0);
    await e.ok(['rm', '-f', 'a1', 'a2', 'b1']);
  });

  it('--internal has no route out; --dns, --add-host, --hostname, --mac-address reach the container', async () => {
    await e.ok(['network', 'create', '--internal', 'inner']);
    const out = await e.ok([
      'run', '--rm', '--network', 'inner', '--hostname', 'box', '--dns', '10.0.0.53', '--add-host', 'db:10.1.2.3', '--mac-address', '02:42:0a:5a:00:99',
      'busybox:test', 'sh', '-c', `ip route; echo ---; cat /etc/resolv.conf /etc/hosts /sys/class/net/eth0/address; nc -w 2 ${hostIP} 22 </dev/null && echo reached || echo unreachable`,
    ]);
    const [routes, rest] = out.split('---\n');
    expect(routes).not.toMatch(/default/);
    expect(rest).toMatch(/^nameserver 10\.0\.0\.53\n/);
    expect(rest).toMatch(/\tbox /);
    expect(rest).toMatch(/10\.1\.2\.3\tdb\n/);
    expect(rest).toContain('02:42:0a:5a:00:99\n');
    expect(rest).toMatch(/unreachable\n$/);
  });

  it('after a crash (owner and container killed), the next run and container prune release the namespace, veth and rules', async () => {
    await e.ok(['run', '-d', '--name', 'crash', '-p', `${await freePort()}:80`, 'web:test']);
    const pid = await e.waitRunning('crash');
    const c = await inspect('crash');
    const monitor = (JSON.parse(await e.ok(['container', 'inspect', 'crash'])) as { owner: { pid: number } }[])[0]!.owner.pid;
    process.kill(monitor, 'SIGKILL');
    process.kill(pid, 'SIGKILL');
    // The next run repairs what the crash left (before ps or prune noticed it).
    await e.ok(['run', '--rm', 'busybox:test', 'true']);
    expect(existsSync(c.network!.netns)).toBe(false);
    expect(hostState().rules.filter((l) => l.includes(c.network!.attachments[0]!.ip))).toEqual([]);
    await e.waitFor('the container to be seen exited', async () => (await inspect('crash')).state === 'exited');
    await e.ok(['container', 'prune']);
    expect(existsSync(c.network!.netns)).toBe(false);
    expect(hostState().rules.filter((l) => l.includes(c.network!.attachments[0]!.ip))).toEqual([]);
  });

  it('bridges and their rules stay after the last container left; network rm and prune remove them: the host is as before', async () => {
    expect(await e.containerDirs()).toEqual([]);
    const bridgeOf = (n: string) => (JSON.parse(readFileSync(join(e.root, 'networks', `${n}.json`), 'utf8')) as { bridge: string }).bridge;
    const [dflt, a, b, inner] = ['bridge', 'neta', 'netb', 'inner'].map(bridgeOf);
    // Kept like docker0, so the next start does not pay for them again.
    const kept = hostState();
    expect(kept.links).toEqual([a, b, dflt, inner].sort());
    for (const br of [dflt, a, b, inner]) expect(kept.rules.filter((l) => l.includes(`stevedore:${br}`)).length).toBeGreaterThan(0);
    await e.ok(['network', 'rm', 'neta', 'netb']);
    expect(existsSync(`/sys/class/net/${a}`)).toBe(false);
    expect(hostState().rules.filter((l) => l.includes(a!) || l.includes(b!))).toEqual([]);
    expect(hostState().links).toEqual([dflt, inner].sort());
    expect(await e.ok(['network', 'prune'])).toBe('inner\n');
    expect(ownState()).toEqual(before);
    // The shared chains go with the last network of any root (other roots on this host may hold some).
    if (!sharedChains().some((l) => /stevedore:|CNI-DN-|-A CNI-FORWARD -[sd] /.test(l))) expect(sharedChains()).toEqual([]);
    expect(existsSync('/run/stevedore/rules') ? readdirSync('/run/stevedore/rules').filter((f) => [dflt, a, b, inner].includes(f)) : []).toEqual([]);
  });
});
