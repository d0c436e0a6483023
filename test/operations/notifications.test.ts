// Event notifications (webhooks) end to end: a real server, real pushes (skopeo and raw HTTP), and a
// receiver in the test that is up, down, failing or stuck.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MediaType } from '../../oci/index.js';
import { ACCEPT_ALL_MANIFESTS, pushImage, randomBlob, Registry, repoName } from '../api/client.js';
import { multiLayerImage, writeLayout } from '../helpers/oci-image-builder.js';
import { skopeoCopy } from '../helpers/skopeo.js';
import { freePort, scrape, startTestServer, waitFor, WebhookReceiver, type TestServer } from './helpers.js';

const EVENTS_TYPE = 'application/vnd.docker.distribution.events.v1+json';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Ev = Record<string, any>;

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function receiver(): Promise<WebhookReceiver> {
  const r = await new WebhookReceiver().start();
  cleanup.push(() => r.stop());
  return r;
}

async function server(config: Parameters<typeof startTestServer>[0]): Promise<TestServer> {
  const t = await startTestServer(config);
  cleanup.push(() => t.stop());
  return t;
}

describe('notifications', () => {
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'notify-'));
  });
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('a pushed image produces push events for its blobs and manifest, in the CNCF envelope format', async () => {
    const r = await receiver();
    const t = await server({
      notifications: {
        endpoints: [{ name: 'main', url: r.url, headers: { Authorization: 'Bearer s3cret', 'X-Extra': ['a', 'b'] } }],
      },
    });
    const img = multiLayerImage({ tag: 'v1', randomBytes: 256 * 1024 });
    await writeLayout(join(work, 'image'), img);
    const host = new URL(t.url).host;
    const repo = 'notify/image';
    await skopeoCopy(`oci:${join(work, 'image')}:v1`, `docker://${host}/${repo}:v1`);

    const manifestEvent = await waitFor('the manifest push event', () => r.events.find((e) => e.action === 'push' && e.target.tag === 'v1'));
    // Blob events are published before the manifest's and each endpoint delivers in order.
    const pushes = r.events.filter((e) => e.action === 'push');
    expect(pushes).toHaveLength(img.blobs.length + 1);

    expect(manifestEvent.target).toEqual({
      mediaType: MediaType.OciManifest,
      digest: img.manifest.digest,
      size: img.manifest.bytes.length,
      length: img.manifest.bytes.length,
      repository: repo,
      url: `http://${host}/v2/${repo}/manifests/${img.manifest.digest}`,
      tag: 'v1',
    });
    for (const b of img.blobs) {
      const e = pushes.find((x) => x.target.digest === b.descriptor.digest);
      expect(e, `push event for ${b.descriptor.digest}`).toBeDefined();
      expect(e!.target).toEqual({
        mediaType: 'application/octet-stream',
        digest: b.descriptor.digest,
        size: b.bytes.length,
        length: b.bytes.length,
        repository: repo,
        url: `http://${host}/v2/${repo}/blobs/${b.descriptor.digest}`,
      });
    }
    for (const e of r.events) {
      expect(e.id).toMatch(UUID);
      expect(Number.isNaN(Date.parse(e.timestamp))).toBe(false);
      expect(e.request.method).toBe('PUT');
      expect(e.request.host).toBe(host);
      expect(e.request.addr).toMatch(/^127\.0\.0\.1:\d+$|^\[::ffff:127\.0\.0\.1\]:\d+$/);
      expect(e.request.id).toMatch(UUID);
      expect(e.request.useragent).toBeTruthy();
      expect(e.actor).toEqual({});
      expect(e.source.instanceID).toBe(t.srv.instanceId);
      expect(e.source.addr).toMatch(new RegExp(`:${new URL(t.url).port}$`));
    }
    expect(new Set(r.events.map((e) => e.id)).size).toBe(r.events.length);
    for (const d of r.deliveries) {
      expect(d.headers['content-type']).toBe(EVENTS_TYPE);
      expect(d.headers.authorization).toBe('Bearer s3cret');
      expect(d.headers['x-extra']).toBe('a, b');
    }
    const m = await scrape(t.srv.metricsUrl!);
    expect(m.get('stevedore_notifications_events_total', { endpoint: 'main', outcome: 'delivered' })).toBe(r.events.length);
  });

  it('sends pull, mount and delete events with what was pulled, mounted or deleted', async () => {
    const r = await receiver();
    const t = await server({ notifications: { endpoints: [{ name: 'main', url: r.url }] } });
    const reg = new Registry(t.url);
    const repo = repoName('notify');
    const other = repoName('notify');
    const { parts, manifest } = await pushImage(reg, repo, 'latest');
    await waitFor('the push events', () => r.events.some((e) => e.action === 'push' && e.target.tag === 'latest'));
    const pushed = r.events.length;

    const get = await reg.get(`/v2/${repo}/manifests/latest`, { headers: { Accept: ACCEPT_ALL_MANIFESTS, 'User-Agent': 'notify-test/1.0' } });
    expect(get.status).toBe(200);
    expect((await reg.head(`/v2/${repo}/manifests/latest`, { headers: { Accept: ACCEPT_ALL_MANIFESTS } })).status).toBe(200);
    const mount = await reg.post(`/v2/${other}/blobs/uploads/`, { query: { mount: parts.configDesc.digest, from: repo } });
    expect(mount.status).toBe(201);
    expect((await reg.delete(`/v2/${repo}/manifests/${manifest.digest}`)).status).toBe(202);
    expect((await reg.delete(`/v2/${repo}/blobs/${parts.layerDescs[0]!.digest}`)).status).toBe(202);

    await waitFor('four more events', () => r.events.length >= pushed + 4);
    const [pull, mounted, delManifest, delBlob] = r.events.slice(pushed);
    // HEAD is a check, not a pull: no event.
    expect(r.events).toHaveLength(pushed + 4);
    expect(pull).toMatchObject({
      action: 'pull',
      target: { mediaType: MediaType.OciManifest, digest: manifest.digest, size: manifest.size, repository: repo, tag: 'latest' },
      request: { method: 'GET', useragent: 'notify-test/1.0', id: get.header('x-request-id') },
    });
    expect(mounted).toMatchObject({
      action: 'mount',
      target: { digest: parts.configDesc.digest, size: parts.config.length, repository: other, fromRepository: repo },
      request: { method: 'POST' },
    });
    expect(delManifest).toMatchObject({
      action: 'delete',
      target: { digest: manifest.digest, mediaType: MediaType.OciManifest, size: manifest.size, repository: repo },
      request: { method: 'DELETE' },
    });
    expect(delBlob!.action).toBe('delete');
    expect(delBlob!.target).toEqual({
      digest: parts.layerDescs[0]!.digest,
      repository: repo,
      url: `${t.url}/v2/${repo}/blobs/${parts.layerDescs[0]!.digest}`,
    });
  });

  it('delivers to a receiver that is down when the event happens, once it is up, after retries', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/events`;
    const t = await server({ notifications: { endpoints: [{ name: 'flaky', url, backoff: '100ms', maxBackoff: '400ms', retries: 50 }] } });
    const reg = new Registry(t.url);
    const repo = repoName('notify');
    const blob = await reg.pushBlob(repo, randomBlob(1000));
    // Nothing listens: the first attempts are refused.
    await waitFor('failed attempts', async () =>
      (await scrape(t.srv.metricsUrl!)).get('stevedore_notifications_delivery_attempts_total', { endpoint: 'flaky', result: 'error' }) >= 2,
    );
    const r = new WebhookReceiver();
    await r.start(port);
    cleanup.push(() => r.stop());
    const e = await waitFor('the event after the receiver came up', () => r.events.find((x) => x.target.digest === blob.digest));
    expect(e).toMatchObject({ action: 'push', target: { repository: repo, size: 1000 } });
    const m = await scrape(t.srv.metricsUrl!);
    expect(m.get('stevedore_notifications_delivery_attempts_total', { endpoint: 'flaky', result: 'success' })).toBe(1);
    expect(m.get('stevedore_notifications_events_total', { endpoint: 'flaky', outcome: 'delivered' })).toBe(1);
    expect(m.get('stevedore_notifications_events_total', { endpoint: 'flaky', outcome: 'failed' })).toBe(0);
    expect(m.get('stevedore_notifications_pending', { endpoint: 'flaky' })).toBe(0);
  });

  it('gives up after the configured retries, counts and logs the failure', async () => {
    const r = await receiver();
    r.mode = 'fail';
    const t = await server({ notifications: { endpoints: [{ name: 'broken', url: r.url, backoff: '10ms', retries: 2 }] } });
    await new Registry(t.url).pushBlob(repoName('notify'), randomBlob(10));
    const m = await waitFor('the events to be given up', async () => {
      const s = await scrape(t.srv.metricsUrl!);
      return s.get('stevedore_notifications_events_total', { endpoint: 'broken', outcome: 'failed' }) === 1 ? s : undefined;
    });
    expect(m.get('stevedore_notifications_delivery_attempts_total', { endpoint: 'broken', result: 'error' })).toBe(3);
    const line = t.logs.find((l) => l.msg === 'notification delivery failed; events discarded');
    expect(line).toMatchObject({ endpoint: 'broken', events: 1, attempts: 3, error: 'endpoint answered 503' });
  });

  it('a receiver that hangs does not slow pushes, and other endpoints still get every event', async () => {
    const stuck = await receiver();
    stuck.mode = 'hang';
    const healthy = await receiver();
    const t = await server({
      notifications: {
        endpoints: [
          { name: 'stuck', url: stuck.url, timeout: '10m', retries: 0 },
          { name: 'healthy', url: healthy.url },
        ],
      },
    });
    const reg = new Registry(t.url);
    const repo = repoName('notify');
    await reg.pushBlob(repo, randomBlob(100));
    // The stuck receiver now holds the first delivery open and will not answer.
    await waitFor('the stuck receiver to hold a request', () => stuck.hanging.length === 1);

    // A whole image is pushed while it is stuck.
    const { parts, manifest } = await pushImage(reg, repo, 'while-stuck', { layers: 3 });
    expect(stuck.hanging).toHaveLength(1); // still stuck: the push did not wait for it
    const m = await scrape(t.srv.metricsUrl!);
    expect(m.get('stevedore_notifications_events_total', { endpoint: 'stuck', outcome: 'delivered' })).toBe(0);
    expect(m.get('stevedore_notifications_pending', { endpoint: 'stuck' })).toBe(1 + parts.layers.length + 1 + 1);

    // The healthy endpoint got everything, in order.
    await waitFor('every event at the healthy endpoint', () => healthy.events.length === 1 + parts.layers.length + 1 + 1);
    expect(healthy.events.at(-1)).toMatchObject({ action: 'push', target: { digest: manifest.digest, tag: 'while-stuck' } });
  });

  it('bounds the queue of an endpoint that cannot keep up: the oldest events are dropped, counted and logged', async () => {
    const stuck = await receiver();
    stuck.mode = 'hang';
    const t = await server({ notifications: { endpoints: [{ name: 'small', url: stuck.url, timeout: '10m', queueSize: 2 }] } });
    const reg = new Registry(t.url);
    const repo = repoName('notify');
    for (let i = 0; i < 5; i++) await reg.pushBlob(repo, randomBlob(10 + i));
    // One event is being delivered (stuck), two wait, two were dropped.
    const m = await scrape(t.srv.metricsUrl!);
    expect(m.get('stevedore_notifications_events_total', { endpoint: 'small', outcome: 'queued' })).toBe(5);
    expect(m.get('stevedore_notifications_events_total', { endpoint: 'small', outcome: 'dropped' })).toBe(2);
    expect(m.get('stevedore_notifications_pending', { endpoint: 'small' })).toBe(3);
    expect(t.logs.find((l) => l.msg === 'notification events dropped')).toMatchObject({ endpoint: 'small', reason: 'queue full' });
  });

  it('on stop, delivers what healthy endpoints still have pending, and counts and logs the rest', async () => {
    const healthy = await receiver();
    const stuck = await receiver();
    stuck.mode = 'hang';
    const t = await startTestServer({
      notifications: {
        endpoints: [
          { name: 'healthy', url: healthy.url },
          { name: 'stuck', url: stuck.url, timeout: '10m' },
        ],
      },
    });
    const repo = repoName('notify');
    const blob = await new Registry(t.url).pushBlob(repo, randomBlob(10));
    await t.stop();
    expect(healthy.events.map((e) => e.target.digest)).toEqual([blob.digest]);
    expect(t.logs.find((l) => l.msg === 'notification events not delivered before stopping')).toMatchObject({ undelivered: 1 });
  });

  it('applies per-endpoint include and exclude filters by action and media type', async () => {
    const manifestsOnly = await receiver();
    const noPulls = await receiver();
    const ociWildcard = await receiver();
    const t = await server({
      notifications: {
        endpoints: [
          { name: 'manifests-only', url: manifestsOnly.url, include: { actions: ['push'], mediaTypes: [MediaType.OciManifest] } },
          { name: 'no-pulls', url: noPulls.url, exclude: { actions: ['pull'] } },
          { name: 'oci-wildcard', url: ociWildcard.url, include: { mediaTypes: ['application/vnd.oci.image.*'] }, exclude: { actions: ['pull'] } },
        ],
      },
    });
    const reg = new Registry(t.url);
    const repo = repoName('notify');
    const { manifest } = await pushImage(reg, repo, 'filtered', { layers: 1 });
    expect((await reg.get(`/v2/${repo}/manifests/filtered`, { headers: { Accept: ACCEPT_ALL_MANIFESTS } })).status).toBe(200);

    // Filtering happens before queueing: wait until each endpoint delivered what it queued.
    const m = await waitFor('every queued event delivered', async () => {
      const s = await scrape(t.srv.metricsUrl!);
      const settled = ['manifests-only', 'no-pulls', 'oci-wildcard'].every(
        (n) =>
          s.get('stevedore_notifications_events_total', { endpoint: n, outcome: 'queued' }) ===
          s.get('stevedore_notifications_events_total', { endpoint: n, outcome: 'delivered' }),
      );
      return settled && noPulls.events.length === 3 ? s : undefined;
    });
    expect(m.get('stevedore_notifications_events_total', { endpoint: 'manifests-only', outcome: 'queued' })).toBe(1);
    expect(manifestsOnly.events.map((e) => [e.action, e.target.digest])).toEqual([['push', manifest.digest]]);
    // Two blob pushes and the manifest push; no pull.
    expect(noPulls.events.map((e) => e.action)).toEqual(['push', 'push', 'push']);
    // The manifest (OCI image manifest) but not the blobs (application/octet-stream), and not the pull.
    expect(ociWildcard.events.map((e) => [e.action, e.target.mediaType])).toEqual([['push', MediaType.OciManifest]]);
  });
});
