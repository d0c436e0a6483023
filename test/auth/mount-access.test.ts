// Cross-repository mounts under access control (issue 13, must-fix 2): a user allowed `alice/*`
// only must not get `bob/private`'s blobs into a repository of hers by mounting them, whatever
// the query looks like: no `from` (the server would search every repository), `from` repeated
// (the check and the handler once read different values), `from[]=`. A mount from a repository
// the caller may not pull opens an ordinary upload session (202), as the spec allows; a mount
// she may make still mounts (201). In htpasswd mode and in token mode with the built-in service.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, htpasswdText, startWithConfig, USERS, type AuthEnv } from './auth-env.js';

const RULES = {
  access: [
    { repositories: ['alice/*'], users: ['alice'], actions: ['pull', 'push'] },
    { repositories: ['bob/*'], users: ['bob'], actions: ['pull', 'push', 'delete'] },
  ],
};

type Mode = 'htpasswd' | 'token';
const envs = new Map<Mode, AuthEnv>();
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stevedore-mount-access-'));
  await writeFile(join(dir, 'htpasswd'), htpasswdText());
  for (const mode of ['htpasswd', 'token'] as const) {
    const sub = join(dir, mode);
    const auth =
      mode === 'htpasswd'
        ? { mode, htpasswd: { path: join(dir, 'htpasswd') }, ...RULES }
        : { mode, htpasswd: { path: join(dir, 'htpasswd') }, tokenService: { enabled: true, keyFile: join(sub, 'token.pem') }, ...RULES };
    envs.set(mode, await startWithConfig({ auth }, { dir: await mkdtemp(join(dir, `${mode}-`)) }));
  }
});

afterAll(async () => {
  for (const env of envs.values()) await env.server.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Authorization for `user` asking for `scopes`: Basic, or a token from the built-in service. */
async function authorization(mode: Mode, user: 'alice' | 'bob', scopes: string[]): Promise<string> {
  if (mode === 'htpasswd') return basic(user, USERS[user]);
  const u = new URL('/auth/token', envs.get(mode)!.server.url);
  u.searchParams.set('service', 'stevedore');
  for (const s of scopes) u.searchParams.append('scope', s);
  const res = await fetch(u, { headers: { authorization: basic(user, USERS[user]) } });
  expect(res.status).toBe(200);
  return `Bearer ${((await res.json()) as { token: string }).token}`;
}

function blob(): { bytes: Buffer; digest: string } {
  const bytes = randomBytes(4096);
  return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
}

describe.each(['htpasswd', 'token'] as const)('cross-repository mounts in %s mode, alice allowed alice/* only', (mode) => {
  let base: string;
  let secret: { bytes: Buffer; digest: string };
  let own: { bytes: Buffer; digest: string };
  let alice: string;

  const req = (method: string, path: string, auth: string) => fetch(new URL(path, base), { method, headers: { authorization: auth } });

  beforeAll(async () => {
    base = envs.get(mode)!.server.url;
    secret = blob();
    own = blob();
    const bob = await authorization(mode, 'bob', ['repository:bob/private:pull,push']);
    const put = await fetch(new URL(`/v2/bob/private/blobs/uploads/?digest=${secret.digest}`, base), {
      method: 'POST',
      headers: { authorization: bob, 'content-type': 'application/octet-stream' },
      body: secret.bytes,
    });
    expect(put.status).toBe(201);
    // What a client asks for before a mount: push here, pull at the source.
    alice = await authorization(mode, 'alice', ['repository:alice/x:pull,push', 'repository:alice/own:pull,push', 'repository:bob/private:pull']);
    const mine = await fetch(new URL(`/v2/alice/own/blobs/uploads/?digest=${own.digest}`, base), {
      method: 'POST',
      headers: { authorization: alice, 'content-type': 'application/octet-stream' },
      body: own.bytes,
    });
    expect(mine.status).toBe(201);
  });

  async function expectUnreadable(): Promise<void> {
    const get = await req('GET', `/v2/alice/x/blobs/${secret.digest}`, alice);
    expect(get.status).toBe(404);
    expect(Buffer.from(await get.arrayBuffer()).includes(secret.bytes.subarray(0, 64))).toBe(false);
  }

  it('without from: an upload session, not a blob found in any repository', async () => {
    const res = await req('POST', `/v2/alice/x/blobs/uploads/?mount=${secret.digest}`, alice);
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toMatch(/^\/v2\/alice\/x\/blobs\/uploads\/.+/);
    await expectUnreadable();
  });

  it('from a repository she may not pull: an upload session (202), the blob stays unreadable', async () => {
    const res = await req('POST', `/v2/alice/x/blobs/uploads/?mount=${secret.digest}&from=bob/private`, alice);
    expect(res.status).toBe(202);
    await expectUnreadable();
  });

  it('from repeated, or from[]=: refused with the spec error format, nothing mounted', async () => {
    for (const query of [
      `mount=${secret.digest}&from=bob/private&from=alice/x`,
      `mount=${secret.digest}&from=alice/x&from=bob/private`,
      `mount=${secret.digest}&from[]=bob/private`,
      `mount=${secret.digest}&from%5B%5D=bob/private`,
      `mount=${secret.digest}&mount=${own.digest}&from=bob/private`,
    ]) {
      const res = await req('POST', `/v2/alice/x/blobs/uploads/?${query}`, alice);
      expect(res.status, query).toBe(400);
      const body = (await res.json()) as { errors: { code: string }[] };
      expect(['NAME_INVALID', 'DIGEST_INVALID'], query).toContain(body.errors[0]!.code);
    }
    await expectUnreadable();
  });

  it('from her own repository: mounted (201) and readable', async () => {
    const res = await req('POST', `/v2/alice/x/blobs/uploads/?mount=${own.digest}&from=alice/own`, alice);
    expect(res.status).toBe(201);
    expect(res.headers.get('docker-content-digest')).toBe(own.digest);
    const get = await req('GET', `/v2/alice/x/blobs/${own.digest}`, alice);
    expect(get.status).toBe(200);
    expect(Buffer.from(await get.arrayBuffer()).equals(own.bytes)).toBe(true);
  });

  it('bob, who may pull bob/private, still mounts from it into his own repository', async () => {
    const bob = await authorization(mode, 'bob', ['repository:bob/copy:pull,push', 'repository:bob/private:pull']);
    const res = await req('POST', `/v2/bob/copy/blobs/uploads/?mount=${secret.digest}&from=bob/private`, bob);
    expect(res.status).toBe(201);
  });
});
