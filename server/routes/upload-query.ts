// The query of a blob-upload POST (`?mount=DIGEST&from=REPO`, `?digest=DIGEST`), read in one place
// by both the access check (server/auth/route-scopes.ts) and the handler (uploads.ts). A
// parameter given twice (`&from=a&from=b`) or in a bracket form (`from[]=`) is refused: were the
// two to pick different values, the check would approve one repository and the handler read
// another.
import type { ParsedUrlQuery } from 'node:querystring';

const PARAMS = ['mount', 'from', 'digest'] as const;
type Param = (typeof PARAMS)[number];

export type UploadQuery = { ok: true; mount?: string; from?: string; digest?: string } | { ok: false; param: Param };

export function uploadQuery(query: ParsedUrlQuery): UploadQuery {
  const out: { ok: true; mount?: string; from?: string; digest?: string } = { ok: true };
  for (const key of Object.keys(query)) {
    // `from[]`, `from[0]`, `mount[x]`: forms other parsers read as the parameter itself.
    const bracket = /^([^[]+)\[/.exec(key)?.[1];
    if (bracket && (PARAMS as readonly string[]).includes(bracket)) return { ok: false, param: bracket as Param };
  }
  for (const p of PARAMS) {
    const v = query[p];
    if (Array.isArray(v)) return { ok: false, param: p };
    if (v !== undefined) out[p] = v;
  }
  return out;
}
