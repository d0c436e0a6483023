// `stevedore compose config` as a user runs it: the resolved model of real files, warnings and
// errors one line each, naming the key path; the project's own docker-compose.yml validates.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CLI } from '../helpers/stevedore-process.js';

function stevedore(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd, env: { PATH: process.env.PATH, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('stevedore compose config', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'compose-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints the merged model of compose.yaml and its override, which reads back the same', async () => {
    await writeFile(
      join(dir, 'compose.yaml'),
      'services:\n  web:\n    build: ./web\n    ports: ["${WEB_PORT:-8080}:80"]\n    depends_on: [api]\n    command: echo $$HOME\n  api:\n    image: api:1\n    deploy: { replicas: 2 }\n',
    );
    await writeFile(join(dir, 'compose.override.yaml'), 'services:\n  api:\n    environment: [MODE=dev]\n');
    const r = await stevedore(['compose', 'config'], dir, { WEB_PORT: '9000' });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const model = parse(r.stdout);
    expect(model.name).toBe(dir.split('/').pop()!.toLowerCase().replace(/[^a-z0-9_-]/g, ''));
    expect(model.services.web.ports).toEqual([{ target: 80, published: '9000', protocol: 'tcp' }]);
    expect(model.services.web.build.context).toBe(join(dir, 'web'));
    expect(model.services.web.command).toBe('echo $$HOME');
    expect(model.services.api.environment).toEqual({ MODE: 'dev' });
    expect(model.services.api.deploy.replicas).toBe(2);
    const services = await stevedore(['compose', 'config', '--services'], dir);
    expect(services.stdout).toBe('api\nweb\n');
    // The output is a compose file itself: reading it again gives the same model.
    await writeFile(join(dir, 'resolved.yaml'), r.stdout);
    const again = await stevedore(['compose', '-f', 'resolved.yaml', 'config'], dir);
    expect(again.code).toBe(0);
    expect(parse(again.stdout).services).toEqual(model.services);
  });

  it('warns once per ignored key and fails with one line naming the key path', async () => {
    await writeFile(join(dir, 'warn.yaml'), 'services:\n  web:\n    image: w\n    deploy: { placement: { constraints: [x] } }\n');
    const w = await stevedore(['compose', '-f', 'warn.yaml', 'config', '-q'], dir);
    expect(w.code).toBe(0);
    expect(w.stdout).toBe('');
    expect(w.stderr).toBe('WARN services.web.deploy.placement: not supported by a single-host engine, ignored\n');

    // Attributes the engine cannot honour when it makes the containers: warned at load, once each.
    await writeFile(join(dir, 'engine.yaml'), 'services:\n  web:\n    image: w\n    cap_add: [NET_ADMIN]\n    init: true\n    privileged: true\n  db:\n    image: d\n    cap_add: [SYS_TIME]\n');
    const en = await stevedore(['compose', '-f', 'engine.yaml', 'config', '-q'], dir);
    expect(en.code).toBe(0);
    expect(en.stderr).toBe('WARN services.web.privileged: is not supported by the engine, ignored\n');

    await writeFile(join(dir, 'bad.yaml'), 'services:\n  web:\n    image: w\n    ports: ["80:80/sctp"]\n');
    const b = await stevedore(['compose', '-f', 'bad.yaml', 'config'], dir);
    expect(b.code).not.toBe(0);
    expect(b.stdout).toBe('');
    expect(b.stderr.trim().split('\n')).toEqual(['stevedore compose: services.web.ports[0]: invalid protocol "sctp" (tcp or udp)']);

    const none = await stevedore(['compose', 'config'], join(dir, '..'));
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/^stevedore compose: no compose file found in .*; name one with -f\n$/);
  });

  it("validates the project's own docker-compose.yml (registry replicas, load balancer, S3)", async () => {
    const root = join(import.meta.dirname, '..', '..');
    const r = await stevedore(['compose', '-f', 'docker-compose.yml', 'config'], root);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const model = parse(r.stdout);
    expect(Object.keys(model.services).sort()).toEqual(['minio', 'minio-init', 'nginx', 'stevedore-1', 'stevedore-2']);
    expect(model.services.nginx.ports).toEqual([{ target: 5000, published: '5000', protocol: 'tcp' }]);
  });
});
