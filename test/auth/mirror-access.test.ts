// The pull-through mirror and content of other repositories (issue 13, the audit of must-fix 2):
// a blob is stored once, by digest, for whichever repository brought it, so a request under a
// proxied name for a digest stored for a local (private) repository must not be answered from
// storage: the digest names the content, not who may read it. It is served under the proxied
// name only when that name's upstream has the blob there; a blob cached through one proxied name
// is still shared by another one whose upstream repository has it (a HEAD upstream, no download).
// And access control judges the repository a request is served from: containerd's `?ns=` names
// the upstream's repository, stored (and checked) as `<prefix>/<name>`.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { multiLayerImage, type BuiltImage } from '../helpers/oci-image-builder.js';
import { startMirrorServer, type MirrorServer } from '../mirror/mirror-server.js';
import { startUpstream, type TestUpstream } from '../mirror/upstreams.js';
import { basic, htpasswdText, USERS } from './auth-env.js';

let work: string;
let upstream: TestUpstream;
let mirror: MirrorServer;
let app: BuiltImage;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'mirror-access-'));
  upstream = await startUpstream('cncf-htpasswd');
  app = multiLayerImage({ tag: 'v1', randomBytes: 64 * 1024 });
  await upstream.push(app, 'team/app', 'v1');
  await upstream.push(app, 'team/app2', 'v1');
  mirror = await startMirrorServer({
    upstreams: [{ prefix: 'hub', registry: upstream.host, insecure: true, ...upstream.creds }],
    localNamespaces: ['local'],
  });
}, 120_000);

afterAll(async () => {
  await mirror?.close();
  await upstream?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('mirror: blobs of other repositories under a proxied name', () => {
  it('a blob pushed to a local repository is not served under a proxied name whose upstream lacks it', async () => {
    const secret = randomBytes(8192);
    const digest = `sha256:${createHash('sha256').update(secret).digest('hex')}`;
    const put = await fetch(`${mirror.url}/v2/local/private/blobs/uploads/?digest=${digest}`, { method: 'POST', body: secret, headers: { 'content-type': 'application/octet-stream' } });
    expect(put.status).toBe(201);
    for (const method of ['GET', 'HEAD']) {
      const res = await fetch(`${mirror.url}/v2/hub/team/app/blobs/${digest}`, { method });
      expect(res.status, method).toBe(404);
      if (method === 'GET') {
        expect(((await res.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('BLOB_UNKNOWN');
      }
    }
    // Nor did the attempt link it there.
    expect((await fetch(`${mirror.url}/v2/hub/team/app/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);
  });

  it('a blob cached through one proxied name is shared by another whose upstream repository has it, without a second download', async () => {
    const layer = app.layers[0]!.descriptor.digest;
    const first = await fetch(`${mirror.url}/v2/hub/team/app/blobs/${layer}`);
    expect(first.status).toBe(200);
    expect(Buffer.from(await first.arrayBuffer()).equals(Buffer.from(app.layers[0]!.bytes))).toBe(true);
    const downloads = upstream.proxy.blobGets.get(layer) ?? 0;
    const second = await fetch(`${mirror.url}/v2/hub/team/app2/blobs/${layer}`);
    expect(second.status).toBe(200);
    expect(Buffer.from(await second.arrayBuffer()).equals(Buffer.from(app.layers[0]!.bytes))).toBe(true);
    expect(upstream.proxy.blobGets.get(layer) ?? 0).toBe(downloads);
    // A proxied repository whose upstream does not have it: unknown, although it is cached.
    const elsewhere = await fetch(`${mirror.url}/v2/hub/library/other/blobs/${layer}`);
    expect(elsewhere.status).toBe(404);
  });
});

describe('mirror under access control', () => {
  let guarded: MirrorServer;

  beforeAll(async () => {
    await writeFile(join(work, 'htpasswd'), htpasswdText());
    guarded = await startMirrorServer(
      { upstreams: [{ prefix: 'hub', registry: upstream.host, insecure: true, ...upstream.creds }], localNamespaces: ['team'] },
      {
        config: {
          auth: {
            mode: 'htpasswd',
            htpasswd: { path: join(work, 'htpasswd') },
            access: [
              { repositories: ['team/*'], users: ['alice'], actions: ['pull', 'push'] },
              { repositories: ['hub/**'], users: ['bob'], actions: ['pull'] },
            ],
          },
        },
      },
    );
  }, 60_000);

  afterAll(async () => {
    await guarded?.close();
  });

  const manifest = (path: string, user: keyof typeof USERS) =>
    fetch(`${guarded.url}${path}`, { headers: { authorization: basic(user, USERS[user]), accept: app.manifest.descriptor.mediaType } });

  it('checks ?ns= requests against the proxied repository they are served from, not the name in the path', async () => {
    const viaNs = `/v2/team/app/manifests/v1?ns=${encodeURIComponent(upstream.host)}`;
    // alice may pull the local team/*, not the mirror's hub/**.
    const refused = await manifest(viaNs, 'alice');
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('DENIED');
    expect((await manifest('/v2/hub/team/app/manifests/v1', 'alice')).status).toBe(403);
    // bob may pull hub/**: both spellings serve him the upstream's team/app.
    for (const path of [viaNs, '/v2/hub/team/app/manifests/v1']) {
      const res = await manifest(path, 'bob');
      expect(res.status, path).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(app.manifest.bytes))).toBe(true);
    }
  });
});
