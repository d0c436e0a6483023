import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseAddr, parseDuration } from './config.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'config-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function file(text: string): Promise<string> {
  const p = join(dir, `${Math.random().toString(36).slice(2)}.yml`);
  await writeFile(p, text);
  return p;
}

describe('configuration', () => {
  it('has the embedded defaults: port 5000, ./data, deletes on, no auth', () => {
    const c = loadConfig();
    expect(c.http.addr).toBe(':5000');
    expect(c.storage.filesystem.rootDirectory).toBe('./data');
    expect(c.storage.delete.enabled).toBe(true);
    expect(c.storage.uploadPurging.maxAge).toBe(168 * 3600 * 1000);
  });

  it('layers file < environment < flags', async () => {
    const f = await file('http:\n  addr: 127.0.0.1:6000\nlog:\n  level: warn\nstorage:\n  delete:\n    enabled: true\n');
    const c = loadConfig({
      file: f,
      env: { STEVEDORE_LOG_LEVEL: 'error', STEVEDORE_STORAGE_DELETE_ENABLED: 'false', STEVEDORE_HTTP_ADDR: ':7000' },
      overrides: { http: { addr: ':8000' } },
    });
    expect(c.log.level).toBe('error');
    expect(c.storage.delete.enabled).toBe(false);
    expect(c.http.addr).toBe(':8000');
  });

  it('names an unknown key', async () => {
    const f = await file('storage:\n  filesystem:\n    rootdir: /x\n');
    expect(() => loadConfig({ file: f })).toThrow(/unknown key storage\.filesystem\.rootdir/);
  });

  it('names a key with a bad value', async () => {
    const f = await file('storage:\n  delete:\n    enabled: maybe\n');
    expect(() => loadConfig({ file: f })).toThrow(/storage\.delete\.enabled/);
    expect(() => loadConfig({ env: { STEVEDORE_STORAGE_UPLOADPURGING_MAXAGE: 'soon' } })).toThrow(/STEVEDORE.*storage\.uploadPurging\.maxAge.*invalid duration/s);
    expect(() => loadConfig({ overrides: { http: { addr: 'nonsense' } } })).toThrow(/http\.addr/);
  });

  it('explains unreadable and malformed files', async () => {
    expect(() => loadConfig({ file: join(dir, 'missing.yml') })).toThrow(ConfigError);
    expect(() => loadConfig({ file: join(dir, 'missing.yml') })).toThrow(/cannot read .*ENOENT/);
    const broken = await file('a: [1,\n');
    const list = await file('- 1\n');
    expect(() => loadConfig({ file: broken })).toThrow(/not valid YAML/);
    expect(() => loadConfig({ file: list })).toThrow(/must be a YAML mapping/);
  });

  it('validates garbage collection settings and retention policies, naming the key', () => {
    expect(loadConfig({ env: { STEVEDORE_GC_GRACEPERIOD: '2h' } }).gc.gracePeriod).toBe(2 * 3_600_000);
    expect(() => loadConfig({ overrides: { gc: { retention: [{ repositories: ['a/*'] }] } } })).toThrow(
      /gc\.retention\.0: a policy needs keepLast, keepTags or deleteOlderThan/,
    );
    expect(() => loadConfig({ overrides: { gc: { retention: [{ repositories: ['a/*'], keepLast: -1 }] } } })).toThrow(/gc\.retention\.0\.keepLast/);
  });

  it('reports an unknown STEVEDORE_* variable as it reports an unknown key, with a near miss named', () => {
    expect(() => loadConfig({ env: { STEVEDORE_HTTP_ADR: ':5000' } })).toThrow('environment: unknown variable STEVEDORE_HTTP_ADR (did you mean STEVEDORE_HTTP_ADDR?)');
    expect(() => loadConfig({ env: { STEVEDORE_NOTHING_LIKE_IT: '1' } })).toThrow(/^environment: unknown variable STEVEDORE_NOTHING_LIKE_IT$/);
    // Variables of the client, the engine and the CLI are not the server's, and not errors.
    expect(loadConfig({ env: { STEVEDORE_ROOT: '/x', STEVEDORE_CERTS_DIRS: '/y', STEVEDORE_DEBUG: '1' } }).http.addr).toBe(':5000');
  });

  it('accepts every variable the launcher reads (a documented STEVEDORE_COMPILE_CACHE must not stop `serve`)', async () => {
    const launcher = await readFile(fileURLToPath(new URL('../bin/stevedore.js', import.meta.url)), 'utf8');
    const names = [...new Set(launcher.match(/STEVEDORE_[A-Z_]+/g))];
    expect(names).toEqual(expect.arrayContaining(['STEVEDORE_COMPILE_CACHE', 'STEVEDORE_NO_BUNDLE']));
    expect(loadConfig({ env: Object.fromEntries(names.map((n) => [n, '1'])) }).http.addr).toBe(':5000');
  });

  it('parses a variable to its key\'s type', () => {
    const c = loadConfig({
      env: {
        STEVEDORE_STORAGE_DRIVER: 's3',
        STEVEDORE_STORAGE_S3_BUCKET: '123', // a string key keeps digits as text
        STEVEDORE_STORAGE_S3_ACCESSKEYID: 'true',
        STEVEDORE_STORAGE_S3_SECRETACCESSKEY: '0x10',
        STEVEDORE_STORAGE_DELETE_ENABLED: 'no',
        STEVEDORE_STORAGE_S3_FORCEPATHSTYLE: 'ON',
        STEVEDORE_GC_GRACEPERIOD: '90m',
      },
    });
    expect(c.storage.s3.bucket).toBe('123');
    expect(c.storage.s3.accessKeyId).toBe('true');
    expect(c.storage.s3.secretAccessKey).toBe('0x10');
    expect(c.storage.delete.enabled).toBe(false);
    expect(c.storage.s3.forcePathStyle).toBe(true);
    expect(c.gc.gracePeriod).toBe(90 * 60_000);
  });

  it('names the source of a bad value: the variable, the flag, or the file\'s key', async () => {
    expect(() => loadConfig({ env: { STEVEDORE_STORAGE_DELETE_ENABLED: 'maybe' } })).toThrow(/^environment: STEVEDORE_STORAGE_DELETE_ENABLED \(storage\.delete\.enabled\): /);
    expect(() => loadConfig({ overrides: { http: { addr: 'nonsense' } }, overrideFlags: { 'http.addr': '--addr' } })).toThrow(/^flag --addr \(http\.addr\): must be HOST:PORT/);
    const f = await file('storage:\n  driver: s3\n  s3:\n    chunkSize: 1\n');
    expect(() => loadConfig({ file: f, env: { STEVEDORE_STORAGE_S3_BUCKET: 'b' } })).toThrow(new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: storage\\.s3\\.chunkSize: `));
  });

  it('parses durations and addresses', () => {
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('10')).toBeUndefined();
    expect(parseAddr(':5000')).toEqual({ host: undefined, port: 5000 });
    expect(parseAddr('[::1]:5000')).toEqual({ host: '::1', port: 5000 });
    expect(parseAddr('127.0.0.1:70000')).toBeUndefined();
  });

describe('policy configuration', () => {
  it('reads immutable tag rules and quotas from the file and the environment', async () => {
    const f = await file(
      'policy:\n  immutableTags:\n    - { name: releases, repositories: ["team/**"], tags: ["release-*"] }\n' +
        '  quotas:\n    - { name: team-a, repositories: ["team-a/**"], limit: 10GiB }\n    - { repositories: ["b/**"], limit: 500 }\n',
    );
    const c = loadConfig({ file: f, env: { STEVEDORE_POLICY_QUOTAUSAGEMAXAGE: '30s' } });
    expect(c.policy.immutableTags).toEqual([{ name: 'releases', repositories: ['team/**'], tags: ['release-*'], semver: false }]);
    expect(c.policy.quotas).toEqual([
      { name: 'team-a', repositories: ['team-a/**'], limit: 10 * 1024 ** 3 },
      { repositories: ['b/**'], limit: 500 },
    ]);
    expect(c.policy.quotaUsageMaxAge).toBe(30_000);
    const e = loadConfig({ env: { STEVEDORE_POLICY_IMMUTABLETAGS: '[{repositories: ["**"], semver: true}]' } });
    expect(e.policy.immutableTags).toEqual([{ repositories: ['**'], tags: [], semver: true }]);
    expect(loadConfig().policy).toEqual({ immutableTags: [], quotas: [], quotaUsageMaxAge: 10_000 });
  });

  it('names bad policy values', async () => {
    const bad = async (yaml: string) => loadConfig({ file: await file(yaml) });
    await expect(bad('policy:\n  immutableTags:\n    - { repositories: ["**"] }\n')).rejects.toThrow(/policy\.immutableTags\.0: a rule needs tags or semver: true/);
    await expect(bad('policy:\n  quotas:\n    - { repositories: ["a/**"], limit: lots }\n')).rejects.toThrow(/policy\.quotas\.0\.limit: invalid size "lots"/);
    await expect(bad('policy:\n  quotas:\n    - { repositories: ["a/**"], limit: 1 }\n    - { repositories: ["a/**"], limit: 2 }\n')).rejects.toThrow(
      /policy\.quotas\.1\.repositories: another quota has the same repositories/,
    );
    await expect(bad('policy:\n  quotas:\n    - { name: "a b", repositories: ["a/**"], limit: 1 }\n')).rejects.toThrow(/policy\.quotas\.0\.name/);
  });
});
});
