import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FilesystemDriver } from '../../storage/filesystem-driver.js';
import { createLogger } from '../logger.js';
import { AccessRules } from './access-rules.js';
import { parseAccessSpec, RobotAccess, RobotTokenStore, type RobotToken } from './robot-tokens.js';

describe('parseAccessSpec', () => {
  it('reads GLOB:ACTIONS', () => {
    expect(parseAccessSpec('team/**:pull,push')).toEqual({ repository: 'team/**', actions: ['pull', 'push'] });
    expect(parseAccessSpec('a/b:push, push ,delete')).toEqual({ repository: 'a/b', actions: ['push', 'delete'] });
  });

  it('refuses what is not one', () => {
    for (const bad of ['team/**', ':pull', 'team/**:', 'team/** x:pull']) expect(() => parseAccessSpec(bad), bad).toThrow(/REPOSITORY-GLOB:ACTIONS/);
    expect(() => parseAccessSpec('team/**:write')).toThrow(/invalid action "write"/);
  });
});

describe('RobotAccess', () => {
  const robot: RobotToken = {
    name: 'ci',
    access: [{ repository: 'team/**', actions: ['pull', 'push'] }],
    createdBy: 'bob',
    created: new Date().toISOString(),
    secretHash: 'sha256:x',
  };

  it('is the robot’s own access, never more than its creator may do now', () => {
    const rules = new AccessRules({ groups: {}, admins: [], access: [{ repositories: ['team/app'], users: ['bob'], groups: [], anonymous: false, actions: ['pull', 'push', 'delete'], catalog: false }] });
    const view = new RobotAccess(rules, robot);
    expect([...view.allowed('robot+ci', 'team/app')].sort()).toEqual(['pull', 'push']); // not delete: not the robot's
    expect([...view.allowed('robot+ci', 'team/other')]).toEqual([]); // the robot's glob, not the creator's rule
    expect([...view.allowed('robot+ci', 'bob/app')]).toEqual([]);
    expect(view.isAdmin()).toBe(false);
    // The creator loses push (a reload): so does the robot, at once.
    rules.update({ groups: {}, admins: [], access: [{ repositories: ['team/app'], users: ['bob'], groups: [], anonymous: false, actions: ['pull'], catalog: false }] });
    expect([...view.allowed('robot+ci', 'team/app')]).toEqual(['pull']);
  });
});

describe('RobotTokenStore', () => {
  let dir: string;
  let store: RobotTokenStore;
  let driver: FilesystemDriver;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stevedore-robots-unit-'));
    driver = new FilesystemDriver({ rootDirectory: dir });
    store = new RobotTokenStore(driver, createLogger('silent'));
  });
  // The last use is written in the background: a write may land while the directory is removed.
  afterEach(async () => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));

  it('stores only a hash; the secret authenticates robot+NAME, nothing else does', async () => {
    const { robot, secret } = await store.create({ name: 'ci', access: [parseAccessSpec('team/**:push')], createdBy: 'root' });
    const stored = await readFile(join(dir, '_stevedore', 'robots', 'ci.json'), 'utf8');
    expect(stored).not.toContain(secret);
    expect(robot.secretHash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((await store.authenticate('robot+ci', secret))?.name).toBe('ci');
    expect(await store.authenticate('robot+ci', `${secret}x`)).toBeUndefined();
    expect(await store.authenticate('ci', secret)).toBeUndefined();
    expect(await store.authenticate('robot+other', secret)).toBeUndefined();
    // Another store on the same storage (another replica) sees it.
    expect((await new RobotTokenStore(driver, createLogger('silent')).authenticate('robot+ci', secret))?.name).toBe('ci');
  });

  it('refuses bad names, no access, duplicates', async () => {
    await expect(store.create({ name: 'Bad Name', access: [parseAccessSpec('a:pull')], createdBy: 'root' })).rejects.toMatchObject({ kind: 'invalid' });
    await expect(store.create({ name: '../x', access: [parseAccessSpec('a:pull')], createdBy: 'root' })).rejects.toMatchObject({ kind: 'invalid' });
    await expect(store.create({ name: 'ci', access: [], createdBy: 'root' })).rejects.toMatchObject({ kind: 'invalid' });
    await store.create({ name: 'ci', access: [parseAccessSpec('a:pull')], createdBy: 'root' });
    await expect(store.create({ name: 'ci', access: [parseAccessSpec('a:pull')], createdBy: 'root' })).rejects.toMatchObject({ kind: 'exists' });
  });

  it('expires and is removed; the list shows the last use and never the hash', async () => {
    const now = Date.now();
    const { secret } = await store.create({ name: 'short', access: [parseAccessSpec('a:pull')], createdBy: 'root', expiresInMs: 60_000 }, now);
    expect(await store.authenticate('robot+short', secret, now + 1000)).toBeDefined();
    expect(await store.authenticate('robot+short', secret, now + 60_000)).toBeUndefined();
    expect(await store.active('short', now + 60_000)).toBeUndefined();
    await expect.poll(async () => (await store.list(now + 1000))[0]?.lastUsed).toBe(new Date(now + 1000).toISOString());
    const [info] = await store.list(now + 61_000);
    expect(info).toMatchObject({ name: 'short', user: 'robot+short', expired: true, createdBy: 'root' });
    expect(info).not.toHaveProperty('secretHash');
    await store.remove('short');
    expect(await store.active('short', now)).toBeUndefined();
    expect(await store.list()).toEqual([]);
    await expect(store.remove('short')).rejects.toMatchObject({ kind: 'not-found' });
  });
});
