// The quota ledger on a real filesystem driver: two ledgers on one storage stand for two registry
// processes (replicas) sharing it.
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestOf, type Digest } from '../oci/index.js';
import { FilesystemDriver } from './filesystem-driver.js';
import { layout } from './layout.js';
import { QuotaLedger, reconcileQuotaUsage } from './quota-ledger.js';

let dir: string;
let driver: FilesystemDriver;
const ns = { key: 'q-team', repositories: ['team/**'] };
const d = (s: string): Digest => digestOf(s);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stevedore-quota-'));
  driver = new FilesystemDriver({ rootDirectory: dir, noSync: true });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('quota ledger', () => {
  it('counts each blob once per namespace, however often and by whom it is linked', async () => {
    const a = new QuotaLedger(driver, [ns], { maxAgeMs: 0 });
    const b = new QuotaLedger(driver, [ns], { maxAgeMs: 0 });
    // Concurrent pushes of the same blobs through two replicas, and into two repositories.
    await Promise.all([
      a.record('team/web', d('x'), 100),
      b.record('team/web', d('x'), 100),
      b.record('team/api', d('x'), 100),
      a.record('team/api', d('y'), 50),
      b.record('other/app', d('z'), 1000),
    ]);
    for (const l of [a, b]) expect(await l.usage(ns)).toMatchObject({ bytes: 150, blobs: 2 });
    expect(await a.counts(ns, d('x'))).toBe(true);
    expect(await a.counts(ns, d('z'))).toBe(false);
    expect(a.matching('other/app')).toEqual([]);
  });

  it('serves a cached listing until it is maxAgeMs old, with its own writes at once', async () => {
    let now = 1_000;
    const a = new QuotaLedger(driver, [ns], { maxAgeMs: 10_000, now: () => now });
    const b = new QuotaLedger(driver, [ns], { maxAgeMs: 0 });
    expect((await a.usage(ns)).bytes).toBe(0);
    await a.record('team/web', d('x'), 100);
    await b.record('team/web', d('y'), 7);
    expect((await a.usage(ns)).bytes).toBe(100); // the other replica's push is not seen yet
    now += 10_000;
    expect((await a.usage(ns)).bytes).toBe(107);
  });

  it('reconciles with the links: writes missing markers, removes those of blobs no longer linked, keeps ones rewritten since the scan', async () => {
    const l = new QuotaLedger(driver, [ns], { maxAgeMs: 0 });
    await l.record('team/web', d('gone'), 10);
    await l.record('team/web', d('kept'), 20);
    // Written a minute before the scan (backdated rather than waited for).
    const minuteAgo = new Date(Date.now() - 60_000);
    for (const [name, size] of [['gone', 10], ['kept', 20]] as const) await utimes(join(dir, layout.quotaMarker('q-team', d(name), size)), minuteAgo, minuteAgo);
    const scan = new Date(Date.now() - 30_000);
    await l.record('team/web', d('pushed-during-scan'), 40);
    const linked = new Map([['team/web', [d('kept'), d('missing')]], ['other/x', [d('other')]]]);
    const sizes = new Map([[d('kept'), 20], [d('missing'), 30], [d('other'), 5]]);
    const [r] = await l.reconcile(linked, sizes, scan);
    expect(r).toEqual({ key: 'q-team', bytes: 90, blobs: 3, added: 1, removed: 1 });
    expect(await l.counts(ns, d('gone'))).toBe(false);
    expect(JSON.parse((await driver.getContent(layout.quotaTotal('q-team'))).toString())).toMatchObject({ bytes: 90, blobs: 3 });
    expect(await l.reconciled(ns)).toBe(true);
  });

  it('drops the markers of namespaces no longer configured', async () => {
    await new QuotaLedger(driver, [{ key: 'q-old', repositories: ['old/**'] }], { maxAgeMs: 0 }).record('old/a', d('x'), 1);
    const l = new QuotaLedger(driver, [ns], { maxAgeMs: 0 });
    expect(await l.reconciled(ns)).toBe(false);
    await reconcileQuotaUsage(driver, l);
    expect(await driver.list(layout.quotaRoot)).toEqual([layout.quotaNamespace('q-team')]);
  });
});
