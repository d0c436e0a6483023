// `stevedore compose` end to end, as root with real runc, overlayfs and the CNI plugins: a web
// service built from a Dockerfile here (FROM the busybox test image), publishing a port, whose CGI
// calls a backend service by its service name; `up -d`, an HTTP request from the host that only
// the backend's answer can satisfy, `ps`, `logs`, `exec`, a second `up` touching nothing, and
// `down -v` leaving no container, network, volume, link or iptables rule behind. busybox's wget
// crashes here (static glibc), so HTTP inside containers is spoken with nc.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineEnv, type EngineEnv } from '../helpers/engine-cli.js';
import { netnsDir } from '../../engine/network/netns.js';

let e: EngineEnv;

/** The bridges and subnets of this engine root's networks (read while they exist). */
async function ourNetworks(): Promise<{ bridges: string[]; subnets: string[] }> {
  const dir = join(e.root, 'networks');
  const names = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.json'));
  const recs = await Promise.all(names.map(async (f) => JSON.parse(await readFile(join(dir, f), 'utf8')) as { bridge: string; subnet: string }));
  return { bridges: recs.map((r) => r.bridge), subnets: recs.map((r) => r.subnet) };
}

/**
 * What of ours is still on the host: links of our bridges, iptables rules naming our bridges or
 * subnets, network namespace files of our root. Other engineers' tests run on this host at the
 * same time: only what is ours is compared.
 */
function leftovers(ours: { bridges: string[]; subnets: string[] }): string[] {
  const out = ours.bridges.filter((b) => existsSync(`/sys/class/net/${b}`)).map((b) => `link ${b}`);
  const rules = ['filter', 'nat'].flatMap((t) => execFileSync('iptables', ['-w', '-t', t, '-S'], { encoding: 'utf8' }).split('\n'));
  const needles = [...ours.bridges, ...ours.subnets.map((s) => s.replace(/\.0\/24$/, '.'))];
  out.push(...rules.filter((l) => needles.some((n) => l.includes(n))).map((l) => `rule ${l}`));
  const ns = netnsDir(e.root);
  if (existsSync(ns)) out.push(...readdirSync(ns).map((f) => `netns ${f}`));
  return out;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function files(dir: string, content: Record<string, string>): Promise<void> {
  for (const [rel, text] of Object.entries(content)) {
    await mkdir(join(dir, rel, '..'), { recursive: true });
    await writeFile(join(dir, rel), text, { mode: rel.endsWith('.cgi') ? 0o755 : 0o644 });
  }
}

/** `stevedore compose -p NAME -f DIR/compose.yaml ARGS`. */
function compose(project: string, dir: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return e.stevedore(['compose', '-p', project, '-f', join(dir, 'compose.yaml'), ...args], { env, timeoutMs: 300_000 });
}
async function composeOk(project: string, dir: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const r = await compose(project, dir, args, env);
  if (r.code !== 0) throw new Error(`compose ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

interface PsRow {
  ID: string;
  Name: string;
  Service: string;
  State: string;
  Health: string;
  Publishers: { PublishedPort: number; TargetPort: number }[];
}
async function ps(project: string, dir: string, args: string[] = []): Promise<PsRow[]> {
  return JSON.parse(await composeOk(project, dir, ['ps', '--format', 'json', ...args])) as PsRow[];
}

beforeAll(async () => {
  e = await engineEnv();
}, 180_000);

afterAll(async () => {
  // After a failed test: its containers, then its networks, so no bridge or rule outlives the run.
  await e?.reset();
  const nets = await ourNetworks().catch(() => ({ bridges: [], subnets: [] }));
  for (const n of (await readdir(join(e.root, 'networks')).catch(() => [] as string[])).filter((f) => f.endsWith('.json'))) await e?.stevedore(['network', 'rm', n.slice(0, -5)]);
  await e?.close();
  expect(leftovers(nets)).toEqual([]);
});

describe('compose up -d / ps / logs / exec / down -v: a web service calling its backend by name', () => {
  it('answers a request from the host with what only the backend knows, and down -v removes everything', async () => {
    const dir = join(e.dir, 'shop');
    await files(dir, {
      'backend/Dockerfile': 'FROM busybox:test\nRUN mkdir -p /www && echo "stock: 42 apples" > /www/index.html\nCMD ["sh", "-c", "echo backend ready; exec httpd -f -p 8080 -h /www"]\n',
      'web/Dockerfile': 'FROM busybox:test\nCOPY shop.cgi /www/cgi-bin/shop.cgi\nCMD ["httpd", "-f", "-p", "80", "-h", "/www"]\n',
      'web/shop.cgi': '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n"\necho "web asked backend:"\nprintf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3 backend 8080 | tail -n 1\n',
      'compose.yaml': [
        'services:',
        '  web:',
        '    build: ./web',
        '    ports: ["127.0.0.1:${WEB_PORT}:80"]',
        '    depends_on: [backend]',
        // httpd as pid 1 ignores SIGTERM: the grace period is how long stop waits before SIGKILL.
        '    stop_grace_period: 1s',
        '  backend:',
        '    build: ./backend',
        '    volumes: [stock:/data]',
        '    stop_grace_period: 1s',
        'volumes:',
        '  stock: {}',
        '',
      ].join('\n'),
    });
    const port = await freePort();
    const env = { WEB_PORT: String(port) };
    const up = await compose('shop', dir, ['up', '-d'], env);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stderr).toMatch(/Network shop_default Created/);

    const answer = await e.waitFor('the web service to answer', async () => {
      const r = await fetch(`http://127.0.0.1:${port}/cgi-bin/shop.cgi`, { signal: AbortSignal.timeout(10_000) }).catch(() => undefined);
      const text = r?.ok ? await r.text() : undefined;
      return text?.includes('apples') ? text : undefined;
    });
    expect(answer).toBe('web asked backend:\nstock: 42 apples\n');

    const rows = await ps('shop', dir);
    expect(rows.map((r) => [r.Name, r.Service, r.State])).toEqual([
      ['shop-backend-1', 'backend', 'running'],
      ['shop-web-1', 'web', 'running'],
    ]);
    expect(rows[1]!.Publishers).toEqual([expect.objectContaining({ PublishedPort: port, TargetPort: 80 })]);
    const table = await composeOk('shop', dir, ['ps']);
    expect(table.split('\n')[0]).toMatch(/^NAME +IMAGE +COMMAND +SERVICE +STATUS +PORTS$/);
    // The engine's own ps shows them too, with their compose labels.
    expect(await e.ok(['ps', '--filter', 'label=com.docker.compose.service=web', '--format', '{{.Names}}'])).toBe('shop-web-1\n');

    const logs = await composeOk('shop', dir, ['logs', 'backend']);
    expect(logs).toBe('shop-backend-1 | backend ready\n');
    expect(await composeOk('shop', dir, ['exec', '-T', 'backend', 'cat', '/www/index.html'])).toBe('stock: 42 apples\n');
    const failed = await compose('shop', dir, ['exec', '-T', 'backend', 'sh', '-c', 'exit 3']);
    expect(failed.code).toBe(3);

    // Nothing changed: a second up touches nothing (same containers, still running).
    const again = await compose('shop', dir, ['up', '-d'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/Created|Recreate|Started/);
    expect((await ps('shop', dir)).map((r) => r.ID)).toEqual(rows.map((r) => r.ID));

    const ours = await ourNetworks();
    expect(ours.bridges.length).toBeGreaterThan(0);
    const down = await compose('shop', dir, ['down', '-v', '--rmi', 'local'], env);
    expect(down.code, down.stderr).toBe(0);
    // --rmi local: the images compose built (named PROJECT-SERVICE) are gone, the base stays.
    const images = await e.ok(['images']);
    expect(images).not.toMatch(/shop-web|shop-backend/);
    expect(images).toMatch(/busybox/);
    expect(await e.ok(['ps', '-a', '-q'])).toBe('');
    expect(await e.ok(['network', 'ls'])).not.toMatch(/shop_/);
    expect(await e.ok(['volume', 'ls', '-q'])).toBe('');
    expect(await e.mountsUnderRoot()).toEqual([]);
    expect(leftovers(ours)).toEqual([]);
  }, 600_000);
});

describe('replicas with limits and a restart policy on a project network (the seeds\' style file)', () => {
  it('runs three limited replicas, all reached by the service name from a fourth container', async () => {
    const dir = join(e.dir, 'seeds');
    await files(dir, {
      'compose.yaml': [
        'services:',
        '  web:',
        '    image: busybox:test',
        '    command: sh -c \'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www\'',
        '    stop_grace_period: 1s',
        '    deploy:',
        '      replicas: 3',
        '      resources:',
        '        limits: { cpus: "0.5", memory: 64M, pids: 50 }',
        '      restart_policy: { condition: on-failure }',
        '    networks: [webnet]',
        '  probe:',
        '    image: busybox:test',
        '    profiles: [tools]',
        '    networks: [webnet]',
        'networks:',
        '  webnet: {}',
        '',
      ].join('\n'),
    });
    const up = await compose('seeds', dir, ['up', '-d']);
    expect(up.code, up.stderr).toBe(0);
    const rows = await ps('seeds', dir);
    expect(rows.map((r) => r.Name)).toEqual(['seeds-web-1', 'seeds-web-2', 'seeds-web-3']);
    for (const n of [1, 2, 3]) {
      const limits = await composeOk('seeds', dir, ['exec', '-T', '--index', String(n), 'web', 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us', '/sys/fs/cgroup/pids/pids.max']);
      expect(limits).toBe(`${64 * 1024 * 1024}\n50000\n50\n`);
    }
    const inspected = JSON.parse(await e.ok(['container', 'inspect', 'seeds-web-2'])) as { hostConfig: { restart?: unknown } }[];
    expect(inspected[0]!.hostConfig.restart).toEqual({ name: 'on-failure' });
    // A fourth container on the network: `web` names all three replicas, and each one answers.
    const hostnames = await Promise.all([1, 2, 3].map(async (n) => (await composeOk('seeds', dir, ['exec', '-T', '--index', String(n), 'web', 'hostname'])).trim()));
    const probe = await compose('seeds', dir, [
      '--profile', 'tools', 'run', '--rm', '-T', 'probe', 'sh', '-c',
      'for ip in $(awk \'$0 ~ /[[:space:]]web([[:space:]]|$)/ {print $1}\' /etc/hosts); do printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3 $ip 80 | tail -n 1; done; printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3 web 80 | tail -n 1',
    ]);
    expect(probe.code, probe.stderr).toBe(0);
    const lines = probe.stdout.trim().split('\n');
    expect(lines.slice(0, 3).sort()).toEqual([...hostnames].sort());
    expect(hostnames).toContain(lines[3]);
    // run --rm left no container behind.
    expect((await ps('seeds', dir, ['-a'])).map((r) => r.Name)).toEqual(['seeds-web-1', 'seeds-web-2', 'seeds-web-3']);

    // Scaling down removes the highest numbers.
    await composeOk('seeds', dir, ['up', '-d', '--scale', 'web=1']);
    expect((await ps('seeds', dir, ['-a'])).map((r) => r.Name)).toEqual(['seeds-web-1']);
    const ours = await ourNetworks();
    await composeOk('seeds', dir, ['down']);
    expect(await e.ok(['ps', '-a', '-q'])).toBe('');
    expect(await e.mountsUnderRoot()).toEqual([]);
    expect(leftovers(ours)).toEqual([]);
  }, 600_000);
});

describe('depends_on conditions and recreating only what changed', () => {
  it('waits for service_healthy; up twice is a no-op; a changed environment recreates only that service, which keeps its anonymous volume', async () => {
    const dir = join(e.dir, 'health');
    const file = (mode: string) =>
      [
        'services:',
        '  db:',
        '    image: busybox:test',
        '    command: sh -c \'sleep 2; touch /tmp/ready; exec sleep 1000\'',
        '    stop_grace_period: 1s',
        '    healthcheck: { test: "test -f /tmp/ready", interval: 300ms, retries: 50 }',
        '  app:',
        '    image: busybox:test',
        '    command: sleep 1000',
        '    stop_grace_period: 1s',
        `    environment: { MODE: ${mode} }`,
        '    volumes: [/data]',
        '    depends_on: { db: { condition: service_healthy } }',
        '',
      ].join('\n');
    await files(dir, { 'compose.yaml': file('one') });
    const up = await compose('health', dir, ['up', '-d']);
    expect(up.code, up.stderr).toBe(0);
    const events = up.stderr.split('\n').map((l) => l.trim());
    expect(events.indexOf('Container health-db-1 Healthy')).toBeGreaterThan(-1);
    expect(events.indexOf('Container health-app-1 Started')).toBeGreaterThan(events.indexOf('Container health-db-1 Healthy'));
    type Inspected = { State: { StartedAt: string; Health?: { Log: { End: string; ExitCode: number }[] } } };
    const inspect = async (name: string) => (JSON.parse(await e.ok(['container', 'inspect', name])) as Inspected[])[0]!;
    const [db, app] = [await inspect('health-db-1'), await inspect('health-app-1')];
    const healthyAt = db.State.Health!.Log.find((l) => l.ExitCode === 0)!.End;
    expect(Date.parse(app.State.StartedAt)).toBeGreaterThanOrEqual(Date.parse(healthyAt));

    await composeOk('health', dir, ['exec', '-T', 'app', 'sh', '-c', 'echo kept > /data/f']);
    const first = await ps('health', dir);
    const again = await compose('health', dir, ['up', '-d']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/Created|Recreate|Started/);
    expect(await ps('health', dir)).toEqual(first);

    await files(dir, { 'compose.yaml': file('two') });
    const changed = await compose('health', dir, ['up', '-d']);
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stderr).toMatch(/Container health-app-1 Recreate \(configuration changed\)/);
    const after = await ps('health', dir);
    expect(after.find((r) => r.Service === 'db')!.ID).toBe(first.find((r) => r.Service === 'db')!.ID);
    expect(after.find((r) => r.Service === 'app')!.ID).not.toBe(first.find((r) => r.Service === 'app')!.ID);
    expect(await composeOk('health', dir, ['exec', '-T', 'app', 'sh', '-c', 'echo $MODE'])).toBe('two\n');
    // docker compose's rule: the replacement mounts the old container's anonymous volume.
    expect(await composeOk('health', dir, ['exec', '-T', 'app', 'cat', '/data/f'])).toBe('kept\n');
    const volumes = (await e.ok(['volume', 'ls', '-q'])).trim().split('\n').filter(Boolean);
    expect(volumes).toHaveLength(1);

    // -V (--renew-anon-volumes): a fresh volume; the old one is left, not deleted.
    await files(dir, { 'compose.yaml': file('three') });
    const renewed = await compose('health', dir, ['up', '-d', '-V']);
    expect(renewed.code, renewed.stderr).toBe(0);
    expect((await compose('health', dir, ['exec', '-T', 'app', 'cat', '/data/f'])).code).not.toBe(0);
    const afterRenew = (await e.ok(['volume', 'ls', '-q'])).trim().split('\n').filter(Boolean);
    expect(afterRenew).toHaveLength(2);
    expect(afterRenew).toContain(volumes[0]);
    await e.ok(['volume', 'rm', volumes[0]!]);

    const ours = await ourNetworks();
    await composeOk('health', dir, ['down', '-v']);
    expect(await e.ok(['ps', '-a', '-q'])).toBe('');
    expect(await e.ok(['volume', 'ls', '-q'])).toBe('');
    expect(leftovers(ours)).toEqual([]);
  }, 600_000);
});

describe('depends_on: service_completed_successfully', () => {
  it('starts a dependant after its one-shot dependency exited 0, and fails with one line when it did not', async () => {
    const dir = join(e.dir, 'deps');
    await files(dir, {
      'compose.yaml': [
        'services:',
        '  migrate: { image: busybox:test, command: sh -c \'sleep 1; echo migrated\' }',
        '  broken: { image: busybox:test, command: sh -c \'exit 4\' }',
        '  app:',
        '    image: busybox:test',
        '    command: sleep 1000',
        '    stop_grace_period: 1s',
        '    depends_on: { migrate: { condition: service_completed_successfully } }',
        '  app2:',
        '    image: busybox:test',
        '    command: sleep 1000',
        '    depends_on: { broken: { condition: service_completed_successfully } }',
        '',
      ].join('\n'),
    });
    const ok = await compose('deps', dir, ['up', '-d', 'app']);
    expect(ok.code, ok.stderr).toBe(0);
    const events = ok.stderr.split('\n').map((l) => l.trim());
    expect(events.indexOf('Container deps-app-1 Started')).toBeGreaterThan(events.indexOf('Container deps-migrate-1 Exited'));
    expect(await composeOk('deps', dir, ['logs', '--no-log-prefix', 'migrate'])).toBe('migrated\n');

    const bad = await compose('deps', dir, ['up', '-d', 'app2']);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n').at(-1)).toBe('stevedore compose: services.app2.depends_on.broken: service broken did not complete successfully: container deps-broken-1 exited with 4');
    expect((await ps('deps', dir, ['-a'])).map((r) => [r.Name, r.State])).toEqual([
      ['deps-app-1', 'running'],
      ['deps-app2-1', 'created'],
      ['deps-broken-1', 'exited'],
      ['deps-migrate-1', 'exited'],
    ]);
    const ours = await ourNetworks();
    await composeOk('deps', dir, ['down']);
    expect(await e.ok(['ps', '-a', '-q'])).toBe('');
    expect(leftovers(ours)).toEqual([]);
  }, 600_000);
});

describe('the lifecycle commands and their errors', () => {
  it('port, top, images, stop, start, restart, kill, rm, an attached up, and one-line errors', async () => {
    const dir = join(e.dir, 'life');
    const port = await freePort();
    await files(dir, {
      'compose.yaml': [
        'services:',
        '  web:',
        '    image: busybox:test',
        '    command: sh -c \'mkdir -p /www && echo alive > /www/index.html && exec httpd -f -p 80 -h /www\'',
        `    ports: ["127.0.0.1:${port}:80"]`,
        '    stop_grace_period: 1s',
        '  hello:',
        '    image: busybox:test',
        '    command: echo hello from a one-shot service',
        '    profiles: [once]',
        '',
      ].join('\n'),
    });
    await composeOk('life', dir, ['up', '-d', '--wait']);
    const get = () => fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) }).then((r) => r.text(), () => undefined);
    expect(await e.waitFor('web to answer', get)).toBe('alive\n');
    expect(await composeOk('life', dir, ['port', 'web', '80'])).toBe(`127.0.0.1:${port}\n`);
    expect(await composeOk('life', dir, ['top'])).toMatch(/^life-web-1\n[\s\S]*httpd -f -p 80/);
    expect(await composeOk('life', dir, ['images'])).toMatch(/life-web-1 +docker\.io\/library\/busybox:test/);
    const net = JSON.parse(await e.ok(['network', 'inspect', 'life_default'])) as { labels?: Record<string, string> }[];
    expect(net[0]!.labels).toEqual({ 'com.docker.compose.project': 'life', 'com.docker.compose.network': 'default' });

    await composeOk('life', dir, ['stop', '-t', '0']);
    expect(await ps('life', dir)).toEqual([]);
    expect((await ps('life', dir, ['-a'])).map((r) => [r.Name, r.State])).toEqual([['life-web-1', 'exited']]);
    await composeOk('life', dir, ['start']);
    expect(await e.waitFor('web to answer again', get)).toBe('alive\n');
    const before = (await ps('life', dir))[0]!.ID;
    await composeOk('life', dir, ['restart', 'web']);
    expect(await e.waitFor('web to answer after restart', get)).toBe('alive\n');
    expect((await ps('life', dir))[0]!.ID).toBe(before);
    await composeOk('life', dir, ['kill']);
    await e.waitFor('web to be killed', async () => (await ps('life', dir, ['-a']))[0]?.State === 'exited');
    await composeOk('life', dir, ['rm', '-f']);
    expect(await ps('life', dir, ['-a'])).toEqual([]);

    // up --no-start creates without starting; start then serves.
    const created = await compose('life', dir, ['up', '--no-start']);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stderr).not.toMatch(/Started/);
    expect((await ps('life', dir, ['-a'])).map((r) => [r.Name, r.State])).toEqual([['life-web-1', 'created']]);
    expect(await get()).toBeUndefined();
    await composeOk('life', dir, ['start']);
    expect(await e.waitFor('web to answer after up --no-start and start', get)).toBe('alive\n');

    // run -d: a one-off container in the background, its name printed, removed by down.
    const oneoff = await composeOk('life', dir, ['run', '-d', '--name', 'life-oneoff', 'web', 'sh', '-c', 'echo detached run; exec sleep 600']);
    expect(oneoff).toBe('life-oneoff\n');
    await e.waitFor('the one-off container\'s output', async () => (await e.ok(['logs', 'life-oneoff'])) === 'detached run\n');
    expect((JSON.parse(await e.ok(['container', 'inspect', 'life-oneoff'])) as { State: { Status: string } }[])[0]!.State.Status).toBe('running');
    // rm -s takes the one-off container with the service's (docker compose's rm does too).
    await composeOk('life', dir, ['rm', '-s', '-f']);
    expect(await e.ok(['ps', '-a', '-q'])).toBe('');

    // Attached: the output, prefixed by the container name, until the service exits.
    const attached = await compose('life', dir, ['--profile', 'once', 'up', '--no-deps', 'hello']);
    expect(attached.code, attached.stderr).toBe(0);
    expect(attached.stdout).toBe('life-hello-1 | hello from a one-shot service\n');

    // Attached with a long-running service: Ctrl-C stops it and up exits 130 (docker compose's way).
    const child = e.spawn(['compose', '-p', 'life', '-f', join(dir, 'compose.yaml'), 'up', 'web']);
    // httpd -f writes nothing: nothing is shown.
    let seen = '';
    let progress = '';
    child.stdout!.on('data', (d: Buffer) => (seen += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (progress += d.toString()));
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    await e.waitFor('the attached up to start web', async () => progress.includes('Container life-web-1 Started'));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect((await ps('life', dir, ['-a'])).find((r) => r.Name === 'life-web-1')?.State).toBe('exited');
    expect(seen).toBe('');

    for (const [args, line] of [
      [['up', '-d', 'nope'], 'stevedore compose: no such service: nope'],
      [['exec', '-T', 'web', 'true'], 'stevedore compose: container life-web-1 is not running'],
      [['up', '-d', '--scale', 'web=x'], 'stevedore compose: invalid --scale "web=x": SERVICE=NUMBER'],
    ] as const) {
      const r = await compose('life', dir, [...args]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(line);
    }
    const ours = await ourNetworks();
    // Without --profile: hello's container (its profile inactive) is the project's all the same.
    const down = await compose('life', dir, ['down']);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stderr).not.toMatch(/orphan/);
    expect(await e.ok(['ps', '-a', '-q'])).toBe('');
    expect(leftovers(ours)).toEqual([]);
  }, 600_000);
});

describe('logs -f and down --rmi all', () => {
  it('follows a service\'s output as it comes; down --rmi all removes the images the services used', async () => {
    const dir = join(e.dir, 'follow');
    await files(dir, {
      'compose.yaml': ['services:', '  ticker:', '    image: busybox:test', "    command: sh -c 'echo one; sleep 1; echo two; exec sleep 600'", '    stop_grace_period: 1s', ''].join('\n'),
    });
    await composeOk('follow', dir, ['up', '-d']);
    const child = e.spawn(['compose', '-p', 'follow', '-f', join(dir, 'compose.yaml'), 'logs', '-f', 'ticker']);
    let seen = '';
    child.stdout!.on('data', (d: Buffer) => (seen += d.toString()));
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    // "two" is written a second after the start: a follow that stopped at the end of the log misses it.
    await e.waitFor('logs -f to show the second line', async () => seen.includes('two'));
    expect(seen).toBe('follow-ticker-1 | one\nfollow-ticker-1 | two\n');
    child.kill('SIGINT');
    await exited;

    const down = await compose('follow', dir, ['down', '--rmi', 'all']);
    expect(down.code, down.stderr).toBe(0);
    expect(await e.ok(['ps', '-a', '-q'])).toBe('');
    expect(await e.ok(['images', '--format', '{{.Repository}}:{{.Tag}}'])).not.toMatch(/busybox:test/);
  }, 300_000);
});
