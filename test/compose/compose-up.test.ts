// `stevedore compose` end to end, as root with real runc, overlayfs and the CNI plugins: a web
// service built from a Dockerfile here (FROM the busybox test image), publishing a port, whose CGI
// calls a backend service by its service name; `up -d`, an HTTP request from the host that only
// the backend's answer can satisfy, `ps`, `logs`, `exec`, a second `up` touching nothing, and
// `down -v` leaving no container, network, volume, link or iptables rule behind. busybox's wget
// crashes here (static glibc), so HTTP inside containers is spoken with nc.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineEnv, type EngineEnv } from '../helpers/engine-cli.js';

let e: EngineEnv;
let before: HostState;

interface HostState {
  links: string[];
  rules: string[];
}

/** Links and rules of the kinds networking makes (veths, our bridges, the plugins' CNI chains). */
function hostState(): HostState {
  const links = readdirSync('/sys/class/net').filter((l) => /^(veth|stv)/.test(l)).sort();
  const rules = ['filter', 'nat']
    .flatMap((t) => execFileSync('iptables', ['-w', '-t', t, '-S'], { encoding: 'utf8' }).split('\n').map((l) => `${t} ${l}`))
    .filter((l) => /CNI|10\.90\./.test(l))
    .sort();
  return { links, rules };
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
  before = hostState();
  e = await engineEnv();
}, 180_000);

afterAll(async () => {
  await e?.close();
  // Whatever a failed test left: no link or rule of ours outlives the run.
  expect(hostState()).toEqual(before);
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

    const down = await compose('shop', dir, ['down', '-v'], env);
    expect(down.code, down.stderr).toBe(0);
    expect(await e.ok(['ps', '-a', '-q'])).toBe('');
    expect(await e.ok(['network', 'ls'])).not.toMatch(/shop_/);
    expect(await e.ok(['volume', 'ls', '-q'])).toBe('');
    expect(await e.mountsUnderRoot()).toEqual([]);
    expect(hostState()).toEqual(before);
  }, 600_000);
});
