// What each registry route needs: the access (token.md's resource scopes) a request must hold.
// Every route of server/routes/* is listed; an unknown /v2 path needs a login only (and 404s).
import type { Context } from 'koa';
import { repositoryNameProblem } from '../../oci/index.js';
import { BASE } from '../routes/base.js';
import { BLOB } from '../routes/blobs.js';
import { CATALOG, TAGS } from '../routes/listing.js';
import { MANIFEST } from '../routes/manifests.js';
import { QUOTAS } from '../routes/quotas.js';
import { REFERRERS } from '../routes/referrers.js';
import { uploadQuery } from '../routes/upload-query.js';
import { UPLOAD, UPLOADS } from '../routes/uploads.js';
import { UI_ADMIN, UI_OPERATIONS } from '../ui/operations.js';
import { UI_REPOSITORIES, UI_SUMMARY, UI_TAGS } from '../ui/ui-api.js';
import type { Action } from './auth-config.js';
import { ROBOT_TOKEN, ROBOT_TOKENS } from './robot-api.js';

export interface Need {
  type: 'repository' | 'registry';
  name: string;
  /** The action checked. */
  action: Action | '*';
  /** The actions asked for in the challenge (a push asks for pull,push as Docker clients do). */
  challenge: string;
  /**
   * Asked for in the challenge but not required: the handler decides with what the caller holds
   * (a mount from a repository the caller may not pull opens an ordinary upload instead).
   */
  optional?: boolean;
}

function decodeName(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  try {
    const name = decodeURIComponent(raw);
    return repositoryNameProblem(name) ? undefined : name;
  } catch {
    return undefined;
  }
}

function methodAction(method: string): Action {
  if (method === 'GET' || method === 'HEAD') return 'pull';
  if (method === 'DELETE') return 'delete';
  return 'push';
}

function repo(name: string, action: Action): Need {
  return { type: 'repository', name, action, challenge: action === 'push' ? 'pull,push' : action };
}

// Order as in the router: /blobs/uploads/… is not a blob digest.
const REPOSITORY_ROUTES: [RegExp, (method: string) => Action][] = [
  [UPLOADS, () => 'push'],
  [UPLOAD, () => 'push'],
  [BLOB, methodAction],
  [MANIFEST, methodAction],
  [REFERRERS, () => 'pull'],
  [TAGS, () => 'pull'],
  [UI_SUMMARY, () => 'pull'],
  [UI_TAGS, () => 'pull'],
];

/** The registry-wide administration scope (token.md's `registry:admin:*`), held by `auth.admins` only. */
export const ADMIN_NEED: Need = { type: 'registry', name: 'admin', action: '*', challenge: '*' };

/**
 * The access a request needs; an empty list means any authenticated caller (GET /v2/, unknown
 * paths, invalid names, which the routes then answer with their own errors).
 */
export function requiredAccess(ctx: Pick<Context, 'method' | 'path' | 'query'>): Need[] {
  const { method, path } = ctx;
  if (BASE.test(path)) return [];
  if (CATALOG.test(path) || UI_REPOSITORIES.test(path)) return [{ type: 'registry', name: 'catalog', action: '*', challenge: '*' }];
  // Storage, GC, retention and mirror state of the whole registry: for `auth.admins` only.
  if (UI_OPERATIONS.test(path) || UI_ADMIN.test(path) || QUOTAS.test(path)) return [ADMIN_NEED];
  // Robot token administration (robot-api.ts).
  if (ROBOT_TOKENS.test(path) || ROBOT_TOKEN.test(path)) return [ADMIN_NEED];
  for (const [re, actionOf] of REPOSITORY_ROUTES) {
    const m = re.exec(path);
    if (!m) continue;
    const name = decodeName(m[1]);
    if (name === undefined) return [];
    const needs = [repo(name, actionOf(method))];
    // A cross-repository mount reads the source repository: the challenge asks for pull there so
    // that clients fetch a token holding it, and the handler mounts only when the caller has it.
    // The query is read as the handler reads it (a repeated or bracketed parameter is refused there).
    if (re === UPLOADS && method === 'POST') {
      const q = uploadQuery(ctx.query);
      const source = q.ok && q.mount !== undefined && q.from ? decodeName(encodeURIComponent(q.from)) : undefined;
      if (source !== undefined && source !== name) needs.push({ ...repo(source, 'pull'), optional: true });
    }
    return needs;
  }
  return [];
}

/** The challenge's scope parameter: `repository:NAME:pull,push repository:OTHER:pull`. */
export function scopeString(needs: Need[]): string {
  return needs.map((n) => `${n.type}:${n.name}:${n.challenge}`).join(' ');
}
