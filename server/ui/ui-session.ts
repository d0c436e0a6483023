// The web UI's sign-in with token authentication (auth.mode: token): three same-origin endpoints
// that talk to the token service (the configured auth.token.realm, which may be on another host
// and port, or the built-in one) on the page's behalf. The page's strict CSP lets it reach only
// its own origin, and a token service elsewhere would need CORS; doing the OAuth2 exchange here
// needs neither.
//
//   POST /ui/login  {"username","password"}  the password grant (access_type=offline); the refresh
//                                            token goes into an http-only cookie, never to the page
//   POST /ui/token  {"scope"}                an access token for the scope: the refresh_token grant
//                                            with the cookie, or an anonymous token without one
//                                            (guests browse what anonymous callers may pull)
//   POST /ui/logout                          forgets the cookie
//
// The cookie is HttpOnly (scripts cannot read it), SameSite=Strict and Path=/ui/: the registry API
// under /v2 never sees it, so requests there still carry only the Authorization header the page
// sets (no ambient credentials to forge a delete with). The endpoints answer only same-origin
// JSON requests (a cross-site form cannot send JSON without a CORS preflight, which is refused;
// Origin and Sec-Fetch-Site are checked too), so another site can neither sign a visitor in nor
// mint tokens with their cookie. Errors are the registry's JSON error format.
import type { Context, Middleware } from 'koa';
import type { AuthConfig } from '../auth/auth-config.js';
import { listenerOrigin } from '../auth/listener-origin.js';
import { RegistryError } from '../errors.js';
import type { Logger } from '../logger.js';
import { readBoundedBody } from '../request-body.js';

export const UI_LOGIN = '/ui/login';
export const UI_TOKEN = '/ui/token';
export const UI_LOGOUT = '/ui/logout';
export const SESSION_COOKIE = 'stevedore_ui_session';

const BODY_LIMIT = 16 * 1024;
const CLIENT_ID = 'stevedore-ui';
const TOKEN_SERVICE_TIMEOUT_MS = 15_000;

interface SessionValue {
  /** The user name (shown by the page; the token service decides what it may do). */
  u: string;
  /** The refresh token. */
  r: string;
}

interface TokenAnswer {
  token?: string;
  access_token?: string;
  refresh_token?: string;
  expires_in?: number;
  error?: string;
  error_description?: string;
  errors?: { message?: string }[];
}

function readSession(ctx: Context): SessionValue | undefined {
  const raw = ctx.cookies.get(SESSION_COOKIE);
  if (!raw) return undefined;
  try {
    const v = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as Partial<SessionValue>;
    return typeof v.u === 'string' && typeof v.r === 'string' && v.r ? { u: v.u, r: v.r } : undefined;
  } catch {
    return undefined;
  }
}

function cookieOptions(ctx: Context) {
  // Secure whenever the page is served over TLS (a plain-http registry is loopback or a test).
  return { httpOnly: true, sameSite: 'strict' as const, path: '/ui/', secure: ctx.protocol === 'https', overwrite: true };
}

function writeSession(ctx: Context, v: SessionValue | undefined): void {
  if (!v) ctx.cookies.set(SESSION_COOKIE, '', { ...cookieOptions(ctx), maxAge: 0 });
  else ctx.cookies.set(SESSION_COOKIE, Buffer.from(JSON.stringify(v)).toString('base64url'), cookieOptions(ctx));
}

/** Refuses anything but a same-origin JSON request from the page (see the header comment). */
function checkSameOrigin(ctx: Context): void {
  const site = ctx.get('Sec-Fetch-Site');
  const origin = ctx.get('Origin');
  let originHost: string | undefined;
  try {
    originHost = origin ? new URL(origin).host : undefined;
  } catch {
    originHost = '';
  }
  // The Host the browser sent (not the listener's address): behind a proxy that keeps Host, still the page's own.
  if ((site && site !== 'same-origin') || (originHost !== undefined && originHost !== ctx.get('Host'))) {
    throw new RegistryError('DENIED', 'only the web UI on this origin may use this endpoint');
  }
  if (!ctx.is('application/json')) throw new RegistryError('UNSUPPORTED', 'expected an application/json body', undefined, 415);
}

async function readJson(ctx: Context): Promise<Record<string, unknown>> {
  const body = await readBoundedBody(ctx, BODY_LIMIT, () => new RegistryError('SIZE_INVALID', `request body larger than ${BODY_LIMIT} bytes`, undefined, 413));
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new RegistryError('UNSUPPORTED', 'the body is not a JSON object', undefined, 400);
}

function text(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

export function uiSession(auth: AuthConfig, log: Logger): Middleware {
  const service = auth.token.service;

  /** The token endpoint: the configured realm, or the built-in service at the address this connection reached. */
  const realmOf = (ctx: Context) => auth.token.realm || `${listenerOrigin(ctx)}${auth.tokenService.path}/token`;

  async function tokenService(ctx: Context, init: { form?: URLSearchParams; query?: URLSearchParams }): Promise<{ status: number; body: TokenAnswer; retryAfter?: string }> {
    const url = new URL(realmOf(ctx));
    if (init.query) for (const [k, v] of init.query) url.searchParams.append(k, v);
    let res: Response;
    try {
      res = await fetch(url, {
        method: init.form ? 'POST' : 'GET',
        headers: init.form ? { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' } : { Accept: 'application/json' },
        body: init.form?.toString(),
        redirect: 'error',
        signal: AbortSignal.timeout(TOKEN_SERVICE_TIMEOUT_MS),
      });
    } catch (err) {
      log.warn({ realm: url.origin + url.pathname, err: (err as Error).message }, 'web UI: the token service cannot be reached');
      throw new RegistryError('UNKNOWN', 'the token service cannot be reached', undefined, 502);
    }
    const body = (await res.json().catch(() => ({}))) as TokenAnswer;
    return { status: res.status, body, retryAfter: res.headers.get('Retry-After') ?? undefined };
  }

  /** The token service's refusal as the registry's error (its message, never its body). */
  function refusal(status: number, body: TokenAnswer, retryAfter: string | undefined, wrongCredentials: string): RegistryError {
    if (status === 429) {
      const e = new RegistryError('TOOMANYREQUESTS', 'too many failed sign-ins: try again later');
      return retryAfter ? e.withHeader('Retry-After', retryAfter) : e;
    }
    if (status === 400 || status === 401 || status === 403) return new RegistryError('UNAUTHORIZED', wrongCredentials);
    log.warn({ status, error: body.error }, 'web UI: the token service failed');
    return new RegistryError('UNKNOWN', `the token service answered ${status}`, undefined, 502);
  }

  async function login(ctx: Context): Promise<void> {
    const req = await readJson(ctx);
    const username = text(req.username);
    const password = text(req.password);
    if (!username || !password) throw new RegistryError('UNAUTHORIZED', 'user name and password are required');
    const form = new URLSearchParams({ grant_type: 'password', username, password, access_type: 'offline', client_id: CLIENT_ID, service, scope: '' });
    const { status, body, retryAfter } = await tokenService(ctx, { form });
    if (status !== 200) throw refusal(status, body, retryAfter, 'wrong user name or password');
    if (!body.refresh_token) throw new RegistryError('UNSUPPORTED', 'the token service gave no refresh token (it must support the OAuth2 password grant with access_type=offline)', undefined, 502);
    writeSession(ctx, { u: username, r: body.refresh_token });
    ctx.body = JSON.stringify({ user: username });
  }

  async function token(ctx: Context): Promise<void> {
    const req = await readJson(ctx);
    const scope = text(req.scope);
    const session = readSession(ctx);
    let answer: Awaited<ReturnType<typeof tokenService>>;
    if (session) {
      answer = await tokenService(ctx, { form: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: session.r, client_id: CLIENT_ID, service, scope }) });
      if (answer.status === 400 || answer.status === 401) {
        writeSession(ctx, undefined); // expired, or the user is gone: sign in again
        throw new RegistryError('UNAUTHORIZED', 'the session has expired: sign in again');
      }
    } else {
      // An anonymous token (distribution's token.md: a GET without credentials).
      const query = new URLSearchParams({ service });
      for (const s of scope.split(' ').filter(Boolean)) query.append('scope', s);
      answer = await tokenService(ctx, { query });
    }
    const { status, body, retryAfter } = answer;
    if (status !== 200) throw refusal(status, body, retryAfter, 'the token service refused');
    const access = body.access_token ?? body.token;
    if (!access) throw new RegistryError('UNKNOWN', 'the token service answered without a token', undefined, 502);
    // A service that rotates refresh tokens sends a new one with each answer.
    if (session && body.refresh_token && body.refresh_token !== session.r) writeSession(ctx, { u: session.u, r: body.refresh_token });
    ctx.body = JSON.stringify({ user: session?.u ?? '', token: access, expiresIn: typeof body.expires_in === 'number' ? body.expires_in : 60 });
  }

  return async (ctx, next) => {
    const handler = ctx.path === UI_LOGIN ? login : ctx.path === UI_TOKEN ? token : ctx.path === UI_LOGOUT ? undefined : null;
    if (handler === null) return next();
    if (ctx.method !== 'POST') throw new RegistryError('UNSUPPORTED', `${ctx.method} is not supported on ${ctx.path}`).withHeader('Allow', 'POST');
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Content-Type-Options', 'nosniff');
    checkSameOrigin(ctx);
    ctx.type = 'application/json';
    if (handler) return handler(ctx);
    writeSession(ctx, undefined);
    ctx.body = '{}';
  };
}
