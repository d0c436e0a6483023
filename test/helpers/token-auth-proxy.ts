// A registry front that demands Docker token auth (distribution's token.md): a reverse proxy to a
// real registry that answers 401 with a Bearer challenge, and a token endpoint (GET with Basic
// auth and `account`, POST OAuth2 with password and refresh_token grants). Until Stevedore's own
// token service exists, this is the Bearer-protected registry for client tests.
import { randomBytes } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';

export interface TokenProxy {
  url: string;
  host: string;
  /** Every token request: how it was asked for. */
  tokenRequests: { method: string; grant: string; scopes: string[]; account?: string }[];
  close(): Promise<void>;
}

interface Grant {
  actions: Map<string, Set<string>>; // repository → actions
  expires: number;
}

export async function startTokenProxy(opts: { upstream: string; username: string; password: string; publicPrefix?: string; tokenTtlSeconds?: number }): Promise<TokenProxy> {
  const tokens = new Map<string, Grant>();
  const refreshTokens = new Set<string>();
  const tokenRequests: TokenProxy['tokenRequests'] = [];
  let base = '';

  const grant = (scopes: string[], user: boolean): Grant => {
    const actions = new Map<string, Set<string>>();
    for (const s of scopes) {
      const [type, name, acts] = s.split(':');
      if (type !== 'repository' || !name || !acts) continue;
      const allowed = acts.split(',').filter((a) => user || (a === 'pull' && opts.publicPrefix && name.startsWith(opts.publicPrefix)));
      actions.set(name, new Set(allowed));
    }
    return { actions, expires: Date.now() + (opts.tokenTtlSeconds ?? 300) * 1000 };
  };

  const issue = (scopes: string[], user: boolean, offline: boolean) => {
    const token = randomBytes(16).toString('hex');
    tokens.set(token, grant(scopes, user));
    const body: Record<string, unknown> = { token, access_token: token, expires_in: opts.tokenTtlSeconds ?? 300, issued_at: new Date().toISOString() };
    if (offline && user) {
      const refresh = randomBytes(16).toString('hex');
      refreshTokens.add(refresh);
      body.refresh_token = refresh;
    }
    return body;
  };

  const readBody = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url!, base);
    if (url.pathname === '/token') {
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method === 'POST') {
        const form = new URLSearchParams(await readBody(req));
        const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
        const g = form.get('grant_type') ?? '';
        tokenRequests.push({ method: 'POST', grant: g, scopes });
        if (g === 'refresh_token' && refreshTokens.has(form.get('refresh_token') ?? '')) return json(200, issue(scopes, true, false));
        if (g === 'password' && form.get('username') === opts.username && form.get('password') === opts.password) {
          return json(200, issue(scopes, true, form.get('access_type') === 'offline'));
        }
        return json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid credentials' }] });
      }
      const scopes = url.searchParams.getAll('scope');
      const auth = req.headers.authorization;
      tokenRequests.push({ method: 'GET', grant: auth ? 'basic' : 'anonymous', scopes, account: url.searchParams.get('account') ?? undefined });
      let user = false;
      if (auth) {
        const [u, p] = Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString().split(':');
        if (u !== opts.username || p !== opts.password) return json(401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid credentials' }] });
        user = true;
      }
      return json(200, issue(scopes, user, url.searchParams.get('offline_token') === 'true'));
    }

    // The registry API: check the token for the scope this request needs.
    const m = /^\/v2\/(.+?)\/(blobs|manifests|tags|referrers)\//.exec(url.pathname);
    const repo = m?.[1];
    const action = req.method === 'GET' || req.method === 'HEAD' ? 'pull' : req.method === 'DELETE' ? 'delete' : 'push';
    const scope = repo ? `repository:${repo}:${action === 'push' ? 'pull,push' : action}` : '';
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    const g = tokens.get(token);
    const ok = g && g.expires > Date.now() && (!repo || g.actions.get(repo)?.has(action));
    if (!ok) {
      res.writeHead(401, {
        'content-type': 'application/json',
        'www-authenticate': `Bearer realm="${base}/token",service="token-proxy"${scope ? `,scope="${scope}"` : ''}`,
      });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      req.resume();
      return;
    }
    const headers = { ...req.headers };
    delete headers.authorization;
    const up = request(new URL(req.url!, opts.upstream), { method: req.method, headers }, (ur) => {
      res.writeHead(ur.statusCode!, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  base = `http://127.0.0.1:${port}`;
  return {
    url: base,
    host: `127.0.0.1:${port}`,
    tokenRequests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
