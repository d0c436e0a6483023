// `stevedore serve --workers 2`: the real CLI with two worker processes sharing the listener.
// Every request here goes on a connection of its own (the primary hands connections to the
// workers in turn), and each answer says which worker gave it (Stevedore-Worker), so the tests
// check that requests really were spread, and that what must be one across workers is one:
// upload chunks and their digest, the lock on an upload, rate-limit buckets, failed-login
// counters, the mirror's single upstream GET per blob, aggregated metrics, a single GC, SIGHUP
// reaching every worker, a crashed worker replaced, and SIGTERM draining.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadConfig, startServer, type RunningServer } from '../../server/index.js';
import { createLogger } from '../../server/logger.js';
import { htpasswdText } from '../auth/auth-env.js';
import { startStevedore, type StevedoreProcess } from '../helpers/stevedore-process.js';
import { skopeoCopy, skopeoInspectRaw } from '../helpers/skopeo.js';
import { multiLayerImage, writeLayout } from '../helpers/oci-image-builder.js';
import { startUpstreamProxy, type UpstreamProxy } from '../mirror/upstream-proxy.js';
import { waitFor } from '../operations/helpers.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  worker: string;
}

/** One request on a connection of its own (agent: false), so that it may reach either worker. */
function call(url: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer | AsyncIterable<Buffer> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), worker: String(res.headers['stevedore-worker']) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    const body = opts.body;
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else
      void (async () => {
        for await (const c of body) req.write(c);
        req.end();
      })().catch(reject);
  });
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function metricValue(text: string, line: string): number {
  const hit = text.split('\n').find((l) => l.startsWith(`${line} `));
  return hit ? Number(hit.slice(line.length + 1)) : 0;
}

function records(p: StevedoreProcess): Record<string, unknown>[] {
  return p.logs.flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

const started: StevedoreProcess[] = [];
const dirs: string[] = [];
async function serve(config: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}): Promise<StevedoreProcess & { configPath: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'stevedore-workers-'));
  dirs.push(dir);
  const configPath = join(dir, 'config.yml');
  await writeFile(configPath, stringify(config));
  const p = await startStevedore({ dataDir: join(dir, 'data'), args: ['--workers', '2', '--config', configPath], env: { STEVEDORE_LOG_LEVEL: 'info', ...env } });
  started.push(p);
  return Object.assign(p, { configPath });
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.stop('SIGKILL')));
});
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('serve --workers 2', () => {
  it('answers from both workers and /metrics on either shows the sum of both', async () => {
    const s = await serve();
    const listening = records(s).find((r) => r.msg === 'listening')!;
    expect(listening.workers).toBe(2);
    expect(listening.pids).toHaveLength(2);
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const a = await call(`${s.url}/v2/`);
      expect(a.status).toBe(200);
      seen.add(a.worker);
    }
    expect([...seen].sort()).toEqual(['1', '2']);
    const byWorker = new Map<string, number>();
    for (let i = 0; i < 6; i++) {
      const m = await call(`${s.url}/metrics`);
      byWorker.set(m.worker, metricValue(m.body.toString(), 'stevedore_http_requests_total{route="base",method="GET",status="200"}'));
    }
    // Each worker answered a scrape, and each counted all ten requests, not its own share.
    expect(Object.fromEntries(byWorker)).toEqual({ '1': 10, '2': 10 });
  });

  it('takes a chunked upload whose chunks land on different workers, and one chunk of two racing for the same offset', async () => {
    const s = await serve();
    const data = randomBytes(6 * 1024 * 1024);
    const start = await call(`${s.url}/v2/chunked/blob/blobs/uploads/`, { method: 'POST' });
    expect(start.status).toBe(202);
    let location = String(start.headers.location);
    const workers = new Set<string>();
    const chunk = 1024 * 1024;
    for (let off = 0; off < data.length; off += chunk) {
      const part = data.subarray(off, off + chunk);
      const a = await call(new URL(location, s.url).href, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${off}-${off + part.length - 1}`, 'Content-Length': String(part.length) },
        body: part,
      });
      expect(a.status, a.body.toString()).toBe(202);
      expect(a.headers.range).toBe(`0-${off + part.length - 1}`);
      workers.add(a.worker);
      location = String(a.headers.location);
    }
    expect([...workers].sort()).toEqual(['1', '2']);
    const digest = sha256(data);
    const done = await call(`${new URL(location, s.url).href}${location.includes('?') ? '&' : '?'}digest=${digest}`, { method: 'PUT' });
    expect(done.status, done.body.toString()).toBe(201);
    const got = await call(`${s.url}/v2/chunked/blob/blobs/${digest}`);
    expect(got.status).toBe(200);
    expect(sha256(got.body)).toBe(digest);

    // Two chunks for the same offset at once, on two workers: the upload lock lets one in, the
    // other finds the offset gone (416), and the upload holds the first chunk and one copy of the second.
    const race = await call(`${s.url}/v2/chunked/race/blobs/uploads/`, { method: 'POST' });
    const url = new URL(String(race.headers.location), s.url).href;
    const bodies = [randomBytes(16 * 1024 * 1024), randomBytes(16 * 1024 * 1024)];
    const patch = (body: Buffer) =>
      call(url, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `0-${body.length - 1}`, 'Content-Length': String(body.length) },
        body,
      });
    const answers = await Promise.all(bodies.map(patch));
    expect(answers.map((a) => a.status).sort()).toEqual([202, 416]);
    expect(new Set(answers.map((a) => a.worker)).size).toBe(2);
    const winner = bodies[answers.findIndex((a) => a.status === 202)]!;
    const status = await call(url);
    expect(status.headers.range).toBe(`0-${winner.length - 1}`);
    const fin = await call(`${url}${url.includes('?') ? '&' : '?'}digest=${sha256(winner)}`, { method: 'PUT' });
    expect(fin.status, fin.body.toString()).toBe(201);
  });

  it("takes a blob as skopeo sends it, one PATCH with all of it and an empty PUT ?digest=, the PUT on the other worker", async () => {
    const s = await serve();
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const digest = sha256(data);
    for (const [repo, claimed] of [['whole/ok', digest], ['whole/bad', sha256(Buffer.from('other'))]] as const) {
      const start = await call(`${s.url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
      expect(start.status).toBe(202);
      const url = new URL(String(start.headers.location), s.url).href;
      const patch = await call(url, { method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(data.length) }, body: data });
      expect(patch.status, patch.body.toString()).toBe(202);
      // Connections go to the workers in turn: once a status request reaches the PATCH's worker,
      // the next connection (the PUT) goes to the other, which has no running digest of the upload.
      for (let i = 0; i < 10 && (await call(url)).worker !== patch.worker; i++);
      const put = await call(`${url}${url.includes('?') ? '&' : '?'}digest=${claimed}`, { method: 'PUT' });
      expect(put.worker).not.toBe(patch.worker);
      if (claimed !== digest) {
        expect(put.status).toBe(400);
        expect(JSON.parse(put.body.toString()).errors[0].code).toBe('DIGEST_INVALID');
        expect((await call(`${s.url}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);
        continue;
      }
      expect(put.status, put.body.toString()).toBe(201);
      expect(put.headers['docker-content-digest']).toBe(digest);
      const got = await call(`${s.url}/v2/${repo}/blobs/${digest}`);
      expect(got.status).toBe(200);
      expect(got.body.equals(data)).toBe(true);
      // The upload is finished: its URL is gone on either worker.
      for (let i = 0; i < 2; i++) expect((await call(url)).status).toBe(404);
    }
  });

  it('takes a skopeo push spread over both workers and gives the image back', async () => {
    const s = await serve();
    const dir = await mkdtemp(join(tmpdir(), 'workers-layout-'));
    dirs.push(dir);
    const img = multiLayerImage({ tag: 'latest' });
    await writeLayout(join(dir, 'in'), img);
    await skopeoCopy(`oci:${join(dir, 'in')}:latest`, `docker://${s.host}/spread/img:v1`);
    const raw = await skopeoInspectRaw(`docker://${s.host}/spread/img:v1`);
    expect(sha256(raw)).toBe(img.manifest.digest);
    await skopeoCopy(`docker://${s.host}/spread/img:v1`, `oci:${join(dir, 'out')}:v1`);
    // The access log names the worker of each request: the push and pulls reached both.
    const workers = new Set(records(s).filter((r) => r.msg === 'request' && String(r.path).startsWith('/v2/spread/img/')).map((r) => String(r.worker)));
    expect([...workers].sort()).toEqual(['1', '2']);
  });

  it('keeps one set of rate-limit buckets for all workers', async () => {
    const s = await serve({ rateLimit: { global: { read: { rate: 0.001, burst: 4 } } } });
    const answers = [];
    for (let i = 0; i < 12; i++) answers.push(await call(`${s.url}/v2/`));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(4);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(8);
    expect(new Set(answers.map((a) => a.worker)).size).toBe(2);
    const m = await call(`${s.url}/metrics`);
    expect(metricValue(m.body.toString(), 'stevedore_rate_limited_requests_total{scope="global",kind="read"}')).toBe(8);
  });

  it('counts failed logins once across workers (brute-force lockout)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'workers-auth-'));
    dirs.push(dir);
    await writeFile(join(dir, 'htpasswd'), htpasswdText({ alice: 'alice-Pa55word' }));
    const s = await serve({ auth: { mode: 'htpasswd', htpasswd: { path: join(dir, 'htpasswd') }, bruteForce: { maxFailures: 3, lockout: '1m' } } });
    const basic = (p: string) => ({ Authorization: `Basic ${Buffer.from(`alice:${p}`).toString('base64')}` });
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await call(`${s.url}/v2/`, { headers: basic(`wrong-${i}`) }));
    expect(answers.map((a) => a.status)).toEqual([401, 401, 401]);
    expect(new Set(answers.map((a) => a.worker)).size).toBe(2);
    // Locked on both workers now, even with the right password.
    for (let i = 0; i < 2; i++) {
      const a = await call(`${s.url}/v2/`, { headers: basic('alice-Pa55word') });
      expect(a.status).toBe(429);
    }
  });

  it('forgets a removed robot token on every worker at once (no worker answers from its cache)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'workers-robots-'));
    dirs.push(dir);
    await writeFile(join(dir, 'htpasswd'), htpasswdText({ root: 'root-Pa55word' }));
    const s = await serve({ auth: { mode: 'htpasswd', htpasswd: { path: join(dir, 'htpasswd') }, admins: ['root'] } });
    const basic = (u: string, p: string) => ({ Authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
    const root = basic('root', 'root-Pa55word');
    const created = await call(`${s.url}/v2/_stevedore/tokens`, { method: 'POST', headers: { ...root, 'Content-Type': 'application/json' }, body: Buffer.from(JSON.stringify({ name: 'ci', access: ['robo/**:pull'] })) });
    expect(created.status, created.body.toString()).toBe(201);
    const { user, secret } = JSON.parse(created.body.toString()) as { user: string; secret: string };
    const robot = basic(user, secret);
    // Both workers have authenticated (and cached) the robot.
    const ok = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const a = await call(`${s.url}/v2/`, { headers: robot });
      expect(a.status).toBe(200);
      ok.add(a.worker);
    }
    expect(ok.size).toBe(2);
    const removed = await call(`${s.url}/v2/_stevedore/tokens/ci`, { method: 'DELETE', headers: root });
    expect(removed.status).toBe(200);
    // Right away (robots are cached for 2 s), on both workers, the one that removed it and the other.
    const after = [];
    for (let i = 0; i < 4; i++) after.push(await call(`${s.url}/v2/`, { headers: robot }));
    expect(after.map((a) => a.status)).toEqual([401, 401, 401, 401]);
    expect(new Set(after.map((a) => a.worker)).size).toBe(2);
  });

  describe('as a mirror', () => {
    let upstream: RunningServer | undefined;
    let proxy: UpstreamProxy | undefined;
    afterEach(async () => {
      await proxy?.stop();
      await upstream?.close();
    });

    it('asks the upstream once for a blob however many clients on however many workers ask', async () => {
      const updir = await mkdtemp(join(tmpdir(), 'workers-upstream-'));
      dirs.push(updir);
      upstream = await startServer({ config: loadConfig({ env: {} }), dataDir: updir, addr: '127.0.0.1:0', logger: createLogger('silent') });
      const blob = randomBytes(4 * 1024 * 1024);
      const digest = sha256(blob);
      const put = await call(`${upstream.url}/v2/lib/big/blobs/uploads/?digest=${digest}`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: blob });
      expect(put.status).toBe(201);
      proxy = await startUpstreamProxy(upstream.url);
      proxy.throttle(8 * 1024 * 1024); // half a second: the clients below overlap with the transfer
      const s = await serve({ mirror: { upstreams: [{ prefix: 'up', registry: proxy.host, insecure: true }] } });
      const answers = await Promise.all(Array.from({ length: 8 }, () => call(`${s.url}/v2/up/lib/big/blobs/${digest}`)));
      for (const a of answers) {
        expect(a.status).toBe(200);
        expect(sha256(a.body)).toBe(digest);
      }
      expect(new Set(answers.map((a) => a.worker)).size).toBe(2);
      expect(proxy.blobGets.get(digest)).toBe(1);
      // Later pulls, on either worker, come from the cache.
      for (let i = 0; i < 4; i++) expect((await call(`${s.url}/v2/up/lib/big/blobs/${digest}`)).status).toBe(200);
      expect(proxy.blobGets.get(digest)).toBe(1);
      // The web UI's counters are the mirror's as a whole on either worker: all 12 requests, the bytes fetched once.
      const views = new Map<string, { hits: number; misses: number; upstreamBytes: number }>();
      for (let i = 0; i < 4; i++) {
        const a = await call(`${s.url}/v2/_ui/operations`);
        const up = (JSON.parse(a.body.toString()) as { mirror: { upstreams: { prefix: string; hits: number; misses: number; upstreamBytes: number }[] } }).mirror.upstreams.find((u) => u.prefix === 'up')!;
        views.set(a.worker, { hits: up.hits, misses: up.misses, upstreamBytes: up.upstreamBytes });
      }
      expect([...views.keys()].sort()).toEqual(['1', '2']);
      expect(views.get('1')).toEqual(views.get('2'));
      expect(views.get('1')!.hits + views.get('1')!.misses).toBe(12);
      expect(views.get('1')!.upstreamBytes).toBe(blob.length);
    });
  });

  it('runs scheduled GC in one worker only, and again in the worker that replaces it when it dies', async () => {
    const s = await serve({ gc: { enabled: true, interval: '1s' } });
    const finished = () => records(s).filter((r) => r.msg === 'garbage collection finished');
    await waitFor('three GC runs', () => finished().length >= 3);
    expect(new Set(finished().map((r) => r.worker))).toEqual(new Set(['1']));
    const first = records(s).find((r) => r.msg === 'worker listening' && r.worker === '1')!;
    const leaderPid = (records(s).find((r) => r.msg === 'listening')!.pids as number[])[0]!;
    expect(first.pid).toBe(leaderPid);
    process.kill(leaderPid, 'SIGKILL');
    await waitFor('the leader replaced', () => records(s).find((r) => r.msg === 'worker listening' && r.worker === '1' && r.pid !== leaderPid));
    const before = finished().length;
    await waitFor('GC runs by the new leader', () => finished().slice(before).some((r) => r.pid !== leaderPid));
    expect(new Set(finished().map((r) => r.worker))).toEqual(new Set(['1']));
    expect(records(s).some((r) => r.msg === 'worker exited; starting a new one' && r.pid === leaderPid)).toBe(true);
    // Both workers answer again.
    const seen = new Set<string>();
    await waitFor('both workers answering', async () => {
      seen.add((await call(`${s.url}/v2/`)).worker);
      return seen.size === 2;
    });
    // One run counted per run: the sum over workers equals the runs logged.
    const m = await call(`${s.url}/metrics`);
    const runs = metricValue(m.body.toString(), 'stevedore_gc_runs_total{outcome="ok"}');
    const logged = finished().filter((r) => r.pid !== leaderPid).length;
    expect(runs).toBeGreaterThanOrEqual(logged);
    expect(runs).toBeLessThanOrEqual(logged + 1); // a run may finish between the scrape and the look at the log
  });

  it("shows the leader's GC schedule in the web UI's operations view on every worker", async () => {
    const s = await serve({ gc: { enabled: true, interval: '1h' } });
    const next = new Map<string, unknown>();
    for (let i = 0; i < 6; i++) {
      const a = await call(`${s.url}/v2/_ui/operations`);
      expect(a.status).toBe(200);
      next.set(a.worker, (JSON.parse(a.body.toString()) as { gc: { nextRunAt?: string } }).gc.nextRunAt);
    }
    expect([...next.keys()].sort()).toEqual(['1', '2']);
    expect(typeof next.get('1')).toBe('string');
    expect(next.get('2')).toBe(next.get('1'));
  });

  it('applies SIGHUP in every worker and in the shared rate limits', async () => {
    const s = await serve({ log: { level: 'info' } });
    for (let i = 0; i < 6; i++) expect((await call(`${s.url}/v2/`)).status).toBe(200);
    await writeFile(s.configPath, stringify({ log: { level: 'info' }, rateLimit: { global: { read: { rate: 0.001, burst: 2 } } } }));
    s.child.kill('SIGHUP');
    await waitFor('both workers reloaded', () => new Set(records(s).filter((r) => r.msg === 'configuration reloaded').map((r) => r.worker)).size === 2);
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await call(`${s.url}/v2/`));
    expect(answers.map((a) => a.status).filter((x) => x === 200)).toHaveLength(2);
    expect(new Set(answers.map((a) => a.worker)).size).toBe(2);
  });

  it('reads the configuration on SIGHUP once, in the primary, and gives a replaced worker what the others run', async () => {
    const s = await serve({ log: { level: 'info', access: { enabled: true } } });
    const pids = records(s).find((r) => r.msg === 'listening')!.pids as number[];
    // A configuration that does not load: said once (by the primary), nothing changes.
    await writeFile(s.configPath, 'log: [not, a, map\n');
    s.child.kill('SIGHUP');
    await waitFor('the failed reload logged', () => records(s).some((r) => r.msg === 'configuration reload failed; keeping the running configuration'));
    // Access logging off, from the next request on, in both workers.
    await writeFile(s.configPath, stringify({ log: { level: 'info', access: { enabled: false } } }));
    s.child.kill('SIGHUP');
    await waitFor('both workers reloaded', () => new Set(records(s).filter((r) => r.msg === 'configuration reloaded').map((r) => r.worker)).size === 2);
    expect(records(s).filter((r) => r.msg === 'configuration reload failed; keeping the running configuration')).toHaveLength(1);
    expect(records(s).filter((r) => r.msg === 'reloading configuration')).toHaveLength(2);
    // A SIGHUP sent to a worker itself does not end it.
    process.kill(pids[1]!, 'SIGHUP');
    // The file changes without a SIGHUP; then worker 2 dies: the one that replaces it runs what
    // the other worker runs (the reloaded configuration), not what the file says now.
    await writeFile(s.configPath, stringify({ log: { level: 'info', access: { enabled: true } } }));
    process.kill(pids[1]!, 'SIGKILL');
    await waitFor('worker 2 replaced', () => records(s).some((r) => r.msg === 'worker listening' && r.worker === '2' && r.pid !== pids[1]));
    const before = records(s).length;
    const seen = new Set<string>();
    await waitFor('both workers answering', async () => {
      seen.add((await call(`${s.url}/v2/`)).worker);
      return seen.size === 2;
    });
    expect(records(s).slice(before).filter((r) => r.msg === 'request')).toEqual([]);
    expect(records(s).some((r) => r.msg === 'worker exited; starting a new one' && r.pid === pids[1] && r.signal === 'SIGKILL')).toBe(true);
  });

  it('drains on SIGTERM: an upload in flight on a worker completes, then every process exits 0', async () => {
    const s = await serve();
    const start = await call(`${s.url}/v2/drain/blob/blobs/uploads/`, { method: 'POST' });
    const url = new URL(String(start.headers.location), s.url).href;
    const part = randomBytes(1024 * 1024);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    async function* body() {
      yield part.subarray(0, 512 * 1024);
      await gate;
      yield part.subarray(512 * 1024);
    }
    const pending = call(url, { method: 'PATCH', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(part.length) }, body: body() });
    // In flight on one of the workers (the gauge is the sum over both).
    await waitFor('the chunk in flight', async () => metricValue((await call(`${s.url}/metrics`)).body.toString(), 'stevedore_http_requests_in_flight{route="blob_uploads"}') === 1);
    const pids = records(s).find((r) => r.msg === 'listening')!.pids as number[];
    const exit = s.stop('SIGTERM');
    await waitFor('the workers draining', () => records(s).filter((r) => r.msg === 'shutting down: finishing in-flight requests').length === 2);
    release();
    const a = await pending;
    expect(a.status).toBe(202);
    expect(a.headers.range).toBe(`0-${part.length - 1}`);
    expect(await exit).toBe(0);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  });
});
