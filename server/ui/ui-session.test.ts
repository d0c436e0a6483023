// The UI's session endpoints against a stand-in token service whose answers each test chooses:
// the faults (unreachable, rate limited, no refresh token, rotated refresh tokens) that the real
// one does not produce on demand. The happy paths run against real token services in
// test/ui/access.test.ts.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuthConfigSchema } from '../auth/auth-config.js';
import { RegistryError } from '../errors.js';
import { createLogger } from '../logger.js';
import { SESSION_COOKIE, uiSession } from './ui-session.js';

interface Seen {
  method: string;
  query: URLSearchParams;
  form: URLSearchParams;
}

let tokenServer: Server;
let realm: string;
let answer: (seen: Seen) => { status: number; body: unknown; headers?: Record<string, string> };
let seen: Seen[];
let app: Server;
let base: string;

async function readAll(req: IncomingMessage): Promise<string> {
  let s = '';
  for await (const c of req) s += String(c);
  return s;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

beforeAll(async () => {
  tokenServer = createServer(async (req, res) => {
    const url = new URL(req.url!, 'http://x');
    const s = { method: req.method!, query: url.searchParams, form: new URLSearchParams(await readAll(req)) };
    seen.push(s);
    const a = answer(s);
    res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
    res.end(JSON.stringify(a.body));
  });
  realm = `${await listen(tokenServer)}/token`;
  const auth = AuthConfigSchema.parse({ mode: 'token', token: { realm, service: 'reg', jwksUrl: 'http://127.0.0.1:1/jwks' } });
  const koa = new Koa();
  koa.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      if (!(err instanceof RegistryError)) throw err;
      ctx.status = err.status;
      for (const [k, v] of Object.entries(err.headers)) ctx.set(k, v);
      ctx.body = err.body();
    }
  });
  koa.use(uiSession(auth, createLogger('silent')));
  app = createServer(koa.callback());
  base = await listen(app);
});

afterAll(() => {
  tokenServer?.close();
  app?.close();
});

beforeEach(() => {
  seen = [];
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

const cookieOf = (res: Response) => res.headers.get('set-cookie') ?? '';
const sessionCookie = (res: Response) => /stevedore_ui_session=([^;]*)/.exec(cookieOf(res))?.[1] ?? '';
const code = async (res: Response) => ((await res.json()) as { errors: { code: string; message: string }[] }).errors[0]!;

describe('the web UI session endpoints', () => {
  it('signs in with the password grant, keeps only the refresh token in an http-only cookie, follows a rotated one', async () => {
    answer = (s) => (s.form.get('grant_type') === 'password' ? { status: 200, body: { token: 'a1', refresh_token: 'r1' } } : { status: 200, body: { access_token: 'a2', refresh_token: 'r2', expires_in: 300 } });
    const login = await post('/ui/login', { username: 'alice', password: 's3cret-pw' });
    expect(login.status).toBe(200);
    expect(await login.json()).toEqual({ user: 'alice' });
    expect(seen[0]!.form.get('username')).toBe('alice');
    expect(Object.fromEntries(seen[0]!.form)).toMatchObject({ grant_type: 'password', access_type: 'offline', client_id: 'stevedore-ui', service: 'reg' });
    expect(cookieOf(login)).toMatch(/; path=\/ui\/; samesite=strict; httponly$/);
    const value = sessionCookie(login);
    expect(Buffer.from(value, 'base64url').toString()).not.toContain('s3cret-pw');

    const token = await post('/ui/token', { scope: 'repository:alice/app:pull,delete' }, { cookie: `${SESSION_COOKIE}=${value}` });
    expect(token.status).toBe(200);
    expect(await token.json()).toEqual({ user: 'alice', token: 'a2', expiresIn: 300 });
    expect(Object.fromEntries(seen[1]!.form)).toMatchObject({ grant_type: 'refresh_token', refresh_token: 'r1', scope: 'repository:alice/app:pull,delete', service: 'reg' });
    // The service rotated the refresh token: the cookie follows.
    expect(Buffer.from(sessionCookie(token), 'base64url').toString()).toContain('r2');
  });

  it('without a session (or with a damaged cookie) asks for an anonymous token', async () => {
    answer = () => ({ status: 200, body: { token: 'anon', expires_in: 60 } });
    for (const headers of [{}, { cookie: `${SESSION_COOKIE}=not-base64-json` }] as Record<string, string>[]) {
      seen = [];
      const res = await post('/ui/token', { scope: 'registry:catalog:* repository:public/base:pull' }, headers);
      expect(await res.json()).toEqual({ user: '', token: 'anon', expiresIn: 60 });
      expect(seen[0]!.method).toBe('GET');
      expect(seen[0]!.query.getAll('scope')).toEqual(['registry:catalog:*', 'repository:public/base:pull']);
      expect(seen[0]!.query.get('service')).toBe('reg');
    }
  });

  it('ends a session the token service no longer honours, and clears the cookie', async () => {
    answer = () => ({ status: 401, body: { error: 'invalid_grant' } });
    const value = Buffer.from(JSON.stringify({ u: 'alice', r: 'expired' })).toString('base64url');
    const res = await post('/ui/token', { scope: 'x' }, { cookie: `${SESSION_COOKIE}=${value}` });
    expect(res.status).toBe(401);
    expect((await code(res)).message).toMatch(/session has expired/);
    expect(cookieOf(res)).toMatch(/stevedore_ui_session=;.*expires=Thu, 01 Jan 1970/);
  });

  it("answers the token service's refusals and faults in the registry's error format", async () => {
    answer = () => ({ status: 401, body: { error: 'invalid_grant' } });
    let res = await post('/ui/login', { username: 'alice', password: 'wrong' });
    expect([res.status, (await code(res)).message]).toEqual([401, 'wrong user name or password']);
    expect(cookieOf(res)).toBe('');

    answer = () => ({ status: 429, body: { error: 'slow_down' }, headers: { 'retry-after': '30' } });
    res = await post('/ui/login', { username: 'alice', password: 'x' });
    expect([res.status, res.headers.get('retry-after'), (await code(res)).code]).toEqual([429, '30', 'TOOMANYREQUESTS']);

    answer = () => ({ status: 200, body: { token: 'no-refresh' } });
    res = await post('/ui/login', { username: 'alice', password: 'x' });
    expect(res.status).toBe(502);
    expect((await code(res)).message).toMatch(/no refresh token/);

    answer = () => ({ status: 500, body: {} });
    res = await post('/ui/token', { scope: 'x' });
    expect([res.status, (await code(res)).message]).toEqual([502, 'the token service answered 500']);

    res = await post('/ui/login', { username: '', password: '' });
    expect(res.status).toBe(401);
    res = await fetch(`${base}/ui/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[1,2' });
    expect(res.status).toBe(400);
  });

  it('says so when the token service cannot be reached', async () => {
    const closed = createServer();
    const url = await listen(closed);
    await new Promise((r) => closed.close(r));
    const auth = AuthConfigSchema.parse({ mode: 'token', token: { realm: `${url}/token`, jwksUrl: 'http://127.0.0.1:1/jwks' } });
    const koa = new Koa();
    koa.use(async (ctx, next) => {
      try {
        await next();
      } catch (err) {
        ctx.status = (err as RegistryError).status;
        ctx.body = (err as RegistryError).body();
      }
    });
    koa.use(uiSession(auth, createLogger('silent')));
    const server = koa.listen(0, '127.0.0.1');
    try {
      await new Promise((r) => server.once('listening', r));
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/ui/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"username":"a","password":"b"}' });
      expect(res.status).toBe(502);
      expect((await code(res)).message).toBe('the token service cannot be reached');
    } finally {
      server.close();
    }
  });
});
