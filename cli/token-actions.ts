// What `stevedore token create|ls|rm` do (token-commands.ts declares them): calls of the registry's
// robot token API (server/auth/robot-api.ts) with the caller's stored credentials (an
// `auth.admins` user), loaded only when one of them runs.
import { ClientError, RegistryResponseError, parseErrorBody } from '../client/index.js';
import { clientFrom, type ClientFlags } from './client-options.js';
import { age, table } from './table.js';

const ADMIN_SCOPE = 'registry:admin:*';
const PATH = '/v2/_stevedore/tokens';

interface TokenInfo {
  name: string;
  user: string;
  access: { repository: string; actions: string[] }[];
  createdBy: string;
  created: string;
  expires?: string;
  expired?: boolean;
  lastUsed?: string;
  secret?: string;
}

export type TokenFlags = ClientFlags & { registry?: string };
type Flags = TokenFlags;

function registryOf(flags: Flags): string {
  const r = (flags.registry ?? 'localhost:5000').replace(/^(https?|docker):\/\//, '').replace(/\/+$/, '');
  if (!/^[A-Za-z0-9.\-[\]:]+$/.test(r)) throw new ClientError(`invalid registry ${JSON.stringify(flags.registry)}`, { hint: 'use --registry HOST[:PORT]' });
  return r;
}

/** One admin API call; an error answer becomes the registry's own message. */
async function adminCall(flags: Flags, method: string, path: string, body?: unknown): Promise<unknown> {
  const registry = registryOf(flags);
  const client = await clientFrom(flags);
  try {
    const req = { method, path, ...(body !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}) };
    const res = await client.registryClient(registry).call(req, [ADMIN_SCOPE]);
    const text = await res.body.text();
    if (res.status >= 400) {
      const parsed = parseErrorBody(text);
      if (res.status === 404 && parsed.code !== 'NAME_UNKNOWN') {
        throw new ClientError(`${registry} has no robot token API`, { kind: 'not-found', hint: 'robot tokens need a Stevedore registry with auth configured (auth.mode htpasswd or token)' });
      }
      const err = new RegistryResponseError(method, res.url, res.status, parsed.code, parsed.message, parsed.errors);
      if (res.status === 401 || res.status === 403) throw new ClientError(`${registry}: ${parsed.message ?? 'access denied'}`, { kind: err.kind, hint: `robot tokens are managed by the registry's administrators (auth.admins): stevedore login ${registry}` });
      throw err;
    }
    return text ? JSON.parse(text) : {};
  } finally {
    await client.close();
  }
}

function accessText(t: TokenInfo): string {
  return t.access.map((a) => `${a.repository}:${a.actions.join(',')}`).join(' ');
}

export async function createCommand(flags: Flags & { name: string; access: string[]; expires?: string }): Promise<void> {
  const t = (await adminCall(flags, 'POST', PATH, { name: flags.name, access: flags.access, ...(flags.expires ? { expires: flags.expires } : {}) })) as TokenInfo;
  if (flags.json) return void process.stdout.write(`${JSON.stringify(t, null, 2)}\n`);
  if (flags.quiet) return void process.stdout.write(`${t.secret}\n`);
  process.stdout.write(
    `Created robot ${t.name}: user ${t.user}, access ${accessText(t)}, ${t.expires ? `expires ${t.expires}` : 'never expires'}\n` +
      `Secret (shown only now; use it as the password of ${t.user}):\n${t.secret}\n`,
  );
}

export async function lsCommand(flags: Flags): Promise<void> {
  const { tokens } = (await adminCall(flags, 'GET', PATH)) as { tokens: TokenInfo[] };
  if (flags.json) return void process.stdout.write(`${JSON.stringify(tokens, null, 2)}\n`);
  if (flags.quiet) return void process.stdout.write(tokens.map((t) => `${t.name}\n`).join(''));
  const rows = [['NAME', 'ACCESS', 'CREATED', 'EXPIRES', 'LAST USED', 'CREATED BY']];
  for (const t of tokens) {
    const expires = t.expires ? (t.expired ? 'expired' : t.expires.replace(/\.\d+Z$/, 'Z')) : 'never';
    rows.push([t.name, accessText(t), `${age(t.created)} ago`, expires, t.lastUsed ? `${age(t.lastUsed)} ago` : 'never', t.createdBy]);
  }
  process.stdout.write(table(rows));
}

export async function rmCommand(names: string[], flags: Flags): Promise<void> {
  for (const name of names) {
    await adminCall(flags, 'DELETE', `${PATH}/${encodeURIComponent(name)}`);
    process.stdout.write(`${name}\n`);
  }
}
