// The audit log of a real `stevedore serve` (issue 21): pushes by skopeo and our client, a tag
// moved to another manifest, a tag deleted, a pull (audit.reads), a failed login; then, after a
// restart on the same storage and audit file, what the scheduled retention and GC deleted and a
// configuration reload. One JSON line each, appended across restarts.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { multiLayerImage, writeLayout, type BuiltImage } from '../helpers/oci-image-builder.js';
import { skopeoCopy, skopeoInspect } from '../helpers/skopeo.js';
import { startStevedore, type StevedoreProcess } from '../helpers/stevedore-process.js';
import { basic, cli, htpasswdText, RULES, USERS } from '../auth/auth-env.js';
import { pushImage, Registry } from '../api/client.js';
import { startTestServer, waitFor, WebhookReceiver } from './helpers.js';

interface AuditLine {
  time: string;
  action: string;
  outcome: string;
  actor: { kind: string; name?: string };
  target?: Record<string, unknown>;
  detail?: Record<string, unknown>;
  reason?: string;
}

let dir: string;
let auditPath: string;
let s: StevedoreProcess | undefined;
let one: BuiltImage;
let two: BuiltImage;
const alice = { username: 'alice', password: USERS.alice };

async function audit(): Promise<AuditLine[]> {
  return (await readFile(auditPath, 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditLine);
}

async function start(extra: Record<string, unknown>): Promise<StevedoreProcess> {
  const cfg = join(dir, 'config.yml');
  await writeFile(cfg, stringify({ auth: { mode: 'htpasswd', htpasswd: { path: join(dir, 'htpasswd') }, ...RULES }, audit: { file: auditPath, reads: true }, ...extra }));
  return startStevedore({ dataDir: join(dir, 'data'), args: ['--config', cfg] });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stevedore-audit-'));
  auditPath = join(dir, 'audit.log');
  await writeFile(join(dir, 'htpasswd'), htpasswdText());
  one = multiLayerImage({ tag: 'v1', randomBytes: 4096 });
  two = multiLayerImage({ tag: 'v1', randomBytes: 4096 });
  await writeLayout(join(dir, 'one'), one);
  await writeLayout(join(dir, 'two'), two);
  s = await start({});
}, 120_000);

afterAll(async () => {
  await s?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the audit log', () => {
  it('records pushes, a tag move, a tag delete, a pull and a failed login with who and from where', async () => {
    const host = s!.host;
    await skopeoCopy(`oci:${join(dir, 'one')}:v1`, `docker://${host}/alice/app:v1`, { destCreds: alice });
    const ours = await cli(['copy', '--creds', `alice:${USERS.alice}`, `oci:${join(dir, 'two')}:v1`, `${host}/alice/app:v1`], { dockerConfig: dir });
    expect(ours.code, ours.stderr).toBe(0);
    await skopeoCopy(`oci:${join(dir, 'two')}:v1`, `docker://${host}/alice/app:v2`, { destCreds: alice });
    for (const tag of ['a', 'b']) await skopeoCopy(`oci:${join(dir, 'one')}:v1`, `docker://${host}/alice/old:${tag}`, { destCreds: alice });
    await skopeoInspect(`docker://${host}/alice/app:v2`, { creds: alice });
    const del = await cli(['delete', '--creds', `alice:${USERS.alice}`, `${host}/alice/app:v2`], { dockerConfig: dir });
    expect(del.code, del.stderr).toBe(0);
    await expect(skopeoInspect(`docker://${host}/alice/app:v1`, { creds: { username: 'alice', password: 'wrong' } })).rejects.toThrow();
    // bob may not push to alice's namespace: a refused change (clients stop at their first read,
    // which is not audited; here the upload itself is asked for).
    const refusedPost = await fetch(`${s!.url}/v2/alice/evil/blobs/uploads/`, { method: 'POST', headers: { authorization: basic('bob', USERS.bob) } });
    expect(refusedPost.status).toBe(403);

    const lines = await waitFor('the audit lines', async () => {
      const l = await audit();
      // Each line is appended as its request ends, after the answer went out: wait for the last
      // request's line too (bob's refused upload), not only for earlier ones.
      const refusedLine = l.some((x) => x.action === 'upload' && x.outcome === 'failure' && x.target?.repository === 'alice/evil');
      return refusedLine && l.some((x) => x.action === 'login.failure') && l.some((x) => x.action === 'tag.delete') ? l : undefined;
    });
    const by = (action: string, f: (l: AuditLine) => boolean = () => true) => lines.filter((l) => l.action === action && f(l));
    expect(by('manifest.push', (l) => l.target?.repository === 'alice/app' && l.target?.tag === 'v1').map((l) => l.target?.digest)).toEqual([one.manifest.digest, two.manifest.digest]);
    expect(by('blob.push', (l) => l.target?.repository === 'alice/app').length).toBeGreaterThanOrEqual(2);
    const moves = by('tag.move', (l) => l.target?.repository === 'alice/app' && l.target?.tag === 'v1');
    expect(moves.map((m) => [m.target?.from, m.target?.digest])).toEqual([
      [undefined, one.manifest.digest],
      [one.manifest.digest, two.manifest.digest],
    ]);
    expect(moves[1]!.actor).toEqual({ kind: 'user', name: 'alice' });
    expect(by('tag.delete', (l) => l.target?.tag === 'v2' && l.outcome === 'success')).toHaveLength(1);
    expect(by('manifest.pull', (l) => l.target?.repository === 'alice/app').length).toBeGreaterThanOrEqual(1);
    const failed = by('login.failure')[0]!;
    expect(failed.actor).toEqual({ kind: 'user', name: 'alice' });
    expect((failed as AuditLine & { source: { addr: string } }).source.addr).toMatch(/127\.0\.0\.1/);
    const refused = by('upload', (l) => l.outcome === 'failure' && l.target?.repository === 'alice/evil');
    expect(refused[0]).toMatchObject({ actor: { kind: 'user', name: 'bob' }, detail: { status: 403, code: 'DENIED' } });
    for (const l of lines) expect(Date.parse(l.time)).toBeGreaterThan(Date.now() - 600_000);
  }, 180_000);

  it('after a restart: what scheduled retention and GC deleted, and a configuration reload, appended', async () => {
    const before = (await audit()).length;
    await s!.stop();
    s = undefined;
    s = await start({ gc: { enabled: true, interval: '1s', gracePeriod: 0, deleteUntagged: true, retention: [{ repositories: ['alice/old'], keepLast: 1 }] } });
    const lines = await waitFor('GC lines', async () => {
      const l = await audit();
      return l.some((x) => x.action === 'gc.delete') && l.some((x) => x.action === 'retention.delete') ? l : undefined;
    });
    expect(lines.length).toBeGreaterThan(before);
    const retention = lines.filter((l) => l.action === 'retention.delete');
    expect(retention).toHaveLength(1);
    expect(retention[0]).toMatchObject({ outcome: 'success', actor: { kind: 'system', name: 'gc' }, target: { repository: 'alice/old' } });
    // The manifest the tag moved away from is untagged in alice/app: deleted.
    expect(lines.some((l) => l.action === 'gc.delete' && l.target?.kind === 'manifest' && l.target?.repository === 'alice/app' && l.target?.digest === one.manifest.digest)).toBe(true);
    s!.child.kill('SIGHUP');
    const reload = await waitFor('the reload line', async () => (await audit()).find((l) => l.action === 'config.reload'));
    expect(reload).toMatchObject({ outcome: 'success', actor: { kind: 'system' }, detail: { applied: [], needRestart: [] } });
  }, 180_000);

  it('a `stevedore gc` run by hand appends what it deleted to the same file, naming the command', async () => {
    await s!.stop();
    s = await start({}); // no scheduled GC: what is deleted here is the command's doing
    const host = s.host;
    await skopeoCopy(`oci:${join(dir, 'one')}:v1`, `docker://${host}/alice/byhand:v1`, { destCreds: alice });
    await skopeoCopy(`oci:${join(dir, 'two')}:v1`, `docker://${host}/alice/byhand:v1`, { destCreds: alice });
    // The server writes its lines as requests end: stopped, every line of those pushes is in the file.
    await s.stop();
    s = undefined;
    const before = (await audit()).length;
    const cfg = join(dir, 'gc.yml');
    await writeFile(cfg, stringify({ storage: { filesystem: { rootDirectory: join(dir, 'data') } }, audit: { file: auditPath }, gc: { gracePeriod: 0, deleteUntagged: true } }));
    const dry = await cli(['gc', '--config', cfg, '--dry-run'], { dockerConfig: dir });
    expect(dry.code, dry.stderr).toBe(0);
    expect((await audit()).length).toBe(before); // a dry run deletes nothing, so records nothing
    const run = await cli(['gc', '--config', cfg], { dockerConfig: dir });
    expect(run.code, run.stderr).toBe(0);
    const added = (await audit()).slice(before);
    expect(added.length).toBeGreaterThan(0);
    for (const l of added) expect(l).toMatchObject({ action: 'gc.delete', outcome: 'success', actor: { kind: 'system', name: 'stevedore gc' } });
    expect(added.some((l) => l.target?.kind === 'manifest' && l.target?.repository === 'alice/byhand' && l.target?.digest === one.manifest.digest)).toBe(true);
  }, 180_000);

  it('refusals by an immutable tag and by a quota, as skopeo meets them, are failure lines naming the rule', async () => {
    s = await start({ policy: { immutableTags: [{ name: 'releases', repositories: ['**'], tags: ['release-*'] }], quotas: [{ name: 'tiny', repositories: ['alice/small/**'], limit: 1024 }], quotaUsageMaxAge: '0s' } });
    const host = s.host;
    await skopeoCopy(`oci:${join(dir, 'one')}:v1`, `docker://${host}/alice/rel:release-1`, { destCreds: alice });
    await expect(skopeoCopy(`oci:${join(dir, 'two')}:v1`, `docker://${host}/alice/rel:release-1`, { destCreds: alice })).rejects.toThrow(/immutable/);
    await expect(skopeoCopy(`oci:${join(dir, 'one')}:v1`, `docker://${host}/alice/small/app:v1`, { destCreds: alice })).rejects.toThrow(/quota/);
    const lines = await waitFor('the refusal lines', async () => {
      const l = (await audit()).filter((x) => x.outcome === 'failure' && x.actor.name === 'alice');
      return l.some((x) => /immutable/.test(x.reason ?? '')) && l.some((x) => /quota/.test(x.reason ?? '')) ? l : undefined;
    });
    expect(lines.find((x) => /immutable/.test(x.reason ?? ''))).toMatchObject({ action: 'manifest.push', target: { repository: 'alice/rel', tag: 'release-1' }, detail: { status: 403, code: 'DENIED' } });
    expect(lines.find((x) => /quota/.test(x.reason ?? ''))).toMatchObject({ target: { repository: 'alice/small/app' }, detail: { status: 403, code: 'DENIED' } });
  }, 180_000);
});

describe('audit records to notification endpoints', () => {
  it('go to the endpoints audit.endpoints names, whatever their event filters', async () => {
    const r = await new WebhookReceiver().start();
    // The endpoint's filters let only deletes through as registry events; audit records pass anyway.
    const t = await startTestServer({
      notifications: { endpoints: [{ name: 'siem', url: r.url, backoff: '100ms', include: { actions: ['delete'] } }] },
      audit: { endpoints: ['siem'] },
    });
    try {
      const { manifest } = await pushImage(new Registry(t.url), 'audited/app', 'v1');
      const rec = await waitFor('the audit record at the endpoint', () => r.events.find((e) => e.action === 'manifest.push'));
      expect(rec).toMatchObject({ outcome: 'success', actor: { kind: 'anonymous' }, target: { repository: 'audited/app', tag: 'v1', digest: manifest.digest } });
      await waitFor('the tag.move record', () => r.events.some((e) => e.action === 'tag.move'));
      // The endpoint's own registry events are still filtered: no push event reached it.
      expect(r.events.every((e) => typeof e.outcome === 'string')).toBe(true);
    } finally {
      await t.stop();
      await r.stop();
    }
  }, 60_000);
});
