// Scope strings of token requests (`repository:samalba/my-app:pull,push`, `registry:catalog:*`)
// and what the access rules let a caller have of them. A token may be for a registry that does
// not filter its catalog (the CNCF registry lists every repository to whoever holds
// `registry:catalog:*`), so the catalog goes only to callers the rules name for it.
// `registry:admin:*` (storage, GC, retention and mirror state) goes to `auth.admins` only.
import type { AccessView, Caller } from '../auth/access-rules.js';
import type { ResourceAccess } from '../auth/token-verifier.js';

export function parseScope(scope: string): ResourceAccess | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last <= first) return undefined;
  // `repository(plugin):name:pull`: the resource class is not used for decisions.
  const type = scope.slice(0, first).replace(/\(.*\)$/, '');
  const name = scope.slice(first + 1, last);
  const actions = scope.slice(last + 1).split(',').filter(Boolean);
  if (!type || !name) return undefined;
  return { type, name, actions };
}

/** The granted subset of the requested scopes (entries with nothing granted are left out). */
export function grantScopes(rules: AccessView, caller: Caller, requested: string[]): ResourceAccess[] {
  const byResource = new Map<string, ResourceAccess>();
  for (const s of requested.flatMap((r) => r.split(' ')).filter(Boolean)) {
    const want = parseScope(s);
    if (!want) continue;
    let actions: string[] = [];
    if (want.type === 'repository') {
      const allowed = rules.allowed(caller, want.name);
      // `*` (skopeo asks `repository:NAME:*` to delete) is every action: grant those the caller
      // holds, by name, so that any registry reads them without knowing what `*` covers.
      actions = want.actions.includes('*') ? [...allowed] : want.actions.filter((a) => allowed.has(a as never));
    } else if (want.type === 'registry' && want.name === 'catalog' && want.actions.includes('*') && rules.mayGetCatalogToken(caller)) {
      actions = ['*'];
    } else if (want.type === 'registry' && want.name === 'admin' && want.actions.includes('*') && rules.isAdmin(caller)) {
      // The registry's own administration (the web UI's Operations view): `auth.admins` only.
      actions = ['*'];
    }
    if (actions.length === 0) continue;
    const key = `${want.type}:${want.name}`;
    const prev = byResource.get(key);
    if (prev) prev.actions = [...new Set([...prev.actions, ...actions])];
    else byResource.set(key, { type: want.type, name: want.name, actions });
  }
  return [...byResource.values()];
}
