import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadProject, normaliseProjectName } from './load.js';
import { startOrder, dependantsOf } from './order.js';

const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'compose-load-'));
  made.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

describe('loadProject', () => {
  it('reads compose.yaml and its override, merging by the spec rules', () => {
    const dir = project({
      'compose.yaml': `
services:
  web:
    image: web:1
    command: ["echo", "foo"]
    environment: [A=1, B=2]
    ports: ["8000:80", "9000:90"]
    volumes: ["data:/data", "./src:/src"]
    dns: [1.1.1.1]
volumes:
  data: {}
`,
      'compose.override.yaml': `
services:
  web:
    command: ["echo", "bar"]
    environment: { B: "3", C: "4" }
    ports: ["8000:80", "7000:70"]
    volumes: ["./other:/src:ro"]
    dns: [8.8.8.8]
`,
    });
    const { project: p, files } = loadProject({ workingDir: dir, environment: {} });
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual(['compose.yaml', 'compose.override.yaml']);
    const web = p.services.web!;
    expect(web.command).toEqual(['echo', 'bar']);
    expect(web.environment).toEqual({ A: '1', B: '3', C: '4' });
    expect(web.ports.map((x) => `${x.published}:${x.target}`)).toEqual(['8000:80', '9000:90', '7000:70']);
    expect(web.volumes).toEqual([
      { type: 'volume', source: 'data', target: '/data' },
      { type: 'bind', source: join(dir, 'other'), target: '/src', read_only: true, bind: { create_host_path: true } },
    ]);
    expect(web.dns).toEqual(['1.1.1.1', '8.8.8.8']);
    expect(p.name).toBe(normaliseProjectName(dir.split('/').pop()!));
    expect(p.networks.default!.name).toBe(`${p.name}_default`);
    expect(web.networks).toEqual({ default: { aliases: [] } });
    expect(p.volumes.data!.name).toBe(`${p.name}_data`);
  });

  it('interpolates from the shell over .env, with defaults, and $$', () => {
    const dir = project({
      '.env': 'TAG=fromdotenv\nPORT=8080\n',
      'docker-compose.yml': `
name: \${NAME:-My_App}
services:
  web:
    image: "web:\${TAG}"
    ports: ["\${PORT}:80"]
    command: "echo $$HOME \${MISSING}"
`,
    });
    const { project: p, warnings } = loadProject({ workingDir: dir, environment: { TAG: 'shell' } });
    expect(p.name).toBe('my_app');
    expect(p.services.web!.image).toBe('web:shell');
    expect(p.services.web!.ports[0]!.published).toBe('8080');
    expect(p.services.web!.command).toBe('echo $HOME ');
    expect(warnings).toContain('services.web.command: variable MISSING is not set, an empty string is used');
  });

  it('fails on a required variable with one line naming the key', () => {
    const dir = project({ 'compose.yaml': 'services:\n  web:\n    image: "web:${TAG:?set TAG}"\n' });
    expect(() => loadProject({ workingDir: dir, environment: {} })).toThrow(/services\.web\.image: required variable TAG is missing a value: set TAG/);
  });

  it('resolves extends in the same file and from another file, relative paths from that file', () => {
    const dir = project({
      'common/base.yaml': `
services:
  base:
    image: base:1
    environment: { LEVEL: base, KEEP: yes }
    volumes: ["./conf:/conf"]
`,
      'compose.yaml': `
services:
  mid:
    extends: { file: common/base.yaml, service: base }
    environment: { LEVEL: mid }
  app:
    extends: mid
    command: run
`,
    });
    const { project: p } = loadProject({ workingDir: dir, environment: {} });
    expect(p.services.app!.image).toBe('base:1');
    expect(p.services.app!.environment).toEqual({ LEVEL: 'mid', KEEP: 'yes' });
    expect(p.services.app!.volumes[0]!.source).toBe(join(dir, 'common', 'conf'));
    expect(p.services.app!.command).toBe('run');
  });

  it('refuses circular extends', () => {
    const dir = project({ 'compose.yaml': 'services:\n  a: { image: x, extends: b }\n  b: { image: x, extends: a }\n' });
    expect(() => loadProject({ workingDir: dir, environment: {} })).toThrow(/circular extends/);
  });

  it('enables services by profile', () => {
    const text = 'services:\n  web: { image: w }\n  debug: { image: d, profiles: [dev] }\n';
    const dir = project({ 'compose.yaml': text });
    expect(Object.keys(loadProject({ workingDir: dir, environment: {} }).project.services)).toEqual(['web']);
    // The left-out ones are still named: their containers are the project's, not orphans.
    expect(loadProject({ workingDir: dir, environment: {} }).disabled).toEqual(['debug']);
    expect(loadProject({ workingDir: dir, environment: {}, profiles: ['dev'] }).disabled).toEqual([]);
    expect(Object.keys(loadProject({ workingDir: dir, environment: {}, profiles: ['dev'] }).project.services)).toEqual(['web', 'debug']);
    expect(Object.keys(loadProject({ workingDir: dir, environment: { COMPOSE_PROFILES: 'dev' } }).project.services)).toEqual(['web', 'debug']);
  });

  it('reads env_file, environment winning, and KEY alone from the shell', () => {
    const dir = project({
      'app.env': 'A=from-file\nB=from-file\n',
      'compose.yaml': 'services:\n  web:\n    image: w\n    env_file: app.env\n    environment: [B=explicit, FROM_SHELL, NOT_SET]\n',
    });
    const { project: p } = loadProject({ workingDir: dir, environment: { FROM_SHELL: 's' } });
    expect(p.services.web!.environment).toEqual({ A: 'from-file', B: 'explicit', FROM_SHELL: 's' });
  });

  it('applies !reset and !override from a later file', () => {
    const dir = project({
      'a.yaml': 'services:\n  web:\n    image: w\n    ports: ["80:80", "443:443"]\n    dns: [1.1.1.1]\n',
      'b.yaml': 'services:\n  web:\n    ports: !override ["8080:80"]\n    dns: !reset []\n',
    });
    const { project: p } = loadProject({ workingDir: dir, files: ['a.yaml', 'b.yaml'], environment: {} });
    expect(p.services.web!.ports.map((x) => x.published)).toEqual(['8080']);
    expect(p.services.web!.dns).toEqual([]);
  });

  it('reads the long forms: depends_on conditions, healthcheck, deploy limits and replicas', () => {
    const dir = project({
      'compose.yaml': `
services:
  db:
    image: db
    healthcheck: { test: "pg_isready", interval: 2s, retries: 5 }
  web:
    image: web
    depends_on:
      db: { condition: service_healthy }
    deploy:
      replicas: 3
      resources: { limits: { cpus: "0.5", memory: 64M, pids: 100 } }
      restart_policy: { condition: on-failure, max_attempts: 3 }
      placement: { constraints: [node.role==manager] }
`,
    });
    const { project: p, warnings } = loadProject({ workingDir: dir, environment: {} });
    expect(p.services.db!.healthcheck).toEqual({ test: ['CMD-SHELL', 'pg_isready'], interval: '2s', retries: 5 });
    expect(p.services.web!.depends_on).toEqual({ db: { condition: 'service_healthy', required: true, restart: false } });
    expect(p.services.web!.replicas).toBe(3);
    expect(p.services.web!.limits).toEqual({ cpus: 0.5, memory: 64 * 1024 * 1024, pids: 100 });
    expect(p.services.web!.restart_policy).toEqual({ condition: 'on-failure', max_attempts: 3 });
    expect(warnings).toEqual(['services.web.deploy.placement: not supported by a single-host engine, ignored']);
    expect(startOrder(p)).toEqual(['db', 'web']);
    expect(dependantsOf(p, 'db')).toEqual(['web']);
  });

  it('warns once per unknown key and fails on invalid values with the key path', () => {
    const dir = project({ 'compose.yaml': 'services:\n  web:\n    image: w\n    frobnicate: 1\nunknown_top: 1\n' });
    expect(loadProject({ workingDir: dir, environment: {} }).warnings).toEqual(['unknown_top: unknown top-level key, ignored', 'services.web.frobnicate: unknown or unsupported key, ignored']);
    const cases: [string, RegExp][] = [
      ['services:\n  web:\n    image: w\n    ports: ["99999:80"]\n', /^services\.web\.ports\[0\]: invalid port "99999"/],
      ['services:\n  web:\n    image: w\n    restart: sometimes\n', /^services\.web\.restart: must be/],
      ['services:\n  web:\n    image: w\n    depends_on: [db]\n', /^services\.web\.depends_on: depends on undefined service "db"/],
      ['services:\n  web:\n    image: w\n    volumes: ["data:/d"]\n', /^services\.web\.volumes\[0\]: named volume "data" is not declared/],
      ['services:\n  web:\n    image: w\n    networks: [back]\n', /^services\.web\.networks: network "back" is not declared/],
      ['services:\n  web:\n    build: .\n    healthcheck: { interval: soon }\n', /^services\.web\.healthcheck\.interval: invalid duration "soon"/],
      ['services:\n  web:\n    command: x\n', /^services\.web: has neither an image nor a build/],
      ['services:\n  a: { image: x, depends_on: [b] }\n  b: { image: x, depends_on: [a] }\n', /dependency cycle/],
      ['services:\n  web:\n    image: [1\n', /compose\.yaml:\d+:\d+: /],
    ];
    for (const [text, want] of cases) {
      const d = project({ 'compose.yaml': text });
      expect(() => {
        const { project: p } = loadProject({ workingDir: d, environment: {} });
        startOrder(p);
      }).toThrow(want);
    }
  });

  it('validates the project own docker-compose.yml (registry replicas, load balancer, S3)', () => {
    const root = join(import.meta.dirname, '..');
    const { project: p, warnings } = loadProject({ workingDir: root, files: ['docker-compose.yml'], environment: {} });
    expect(Object.keys(p.services).sort()).toEqual(['minio', 'minio-init', 'nginx', 'stevedore-1', 'stevedore-2']);
    expect(p.name).toBe('stevedore');
    expect(p.services['stevedore-1']!.depends_on.minio!.condition).toBe('service_healthy');
    expect(p.services['stevedore-2']!.build!.context).toBe(root);
    expect(startOrder(p).indexOf('minio')).toBeLessThan(startOrder(p).indexOf('nginx'));
    expect(warnings).toEqual([]);
    void readFileSync;
  });
});
