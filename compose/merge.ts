// Merging canonical compose trees, the Compose Specification's merge rules: mappings merge key by
// key; sequences append; `command`, `entrypoint` and `healthcheck.test` are replaced; `ports`,
// `volumes`, `secrets` and `configs` are unique by their key (a later entry replaces an earlier one
// with the same key); `!reset` removes a value, `!override` replaces it whole.
import { isMapping, type Raw } from './canonical.js';
import { isTag } from './yaml-tags.js';

const REPLACED = new Set(['services.*.command', 'services.*.entrypoint', 'services.*.healthcheck.test']);

function portKey(p: Raw): string {
  return `${p.host_ip ?? ''}|${p.target}|${p.published ?? ''}|${p.protocol ?? 'tcp'}`;
}

const UNIQUE_BY: Record<string, (v: Raw) => string> = {
  'services.*.ports': portKey,
  'services.*.volumes': (v) => String(v.target),
  'services.*.secrets': (v) => String(v.target ?? v.source),
  'services.*.configs': (v) => String(v.target ?? v.source),
};

function appendUnique(base: unknown[], over: unknown[], key?: (v: Raw) => string): unknown[] {
  if (key) {
    const out = new Map<string, unknown>();
    for (const v of [...base, ...over]) out.set(isMapping(v) ? key(v) : JSON.stringify(v), v);
    return [...out.values()];
  }
  // Scalars appear once (dns, cap_add, profiles…); mappings are kept as given.
  const seen = new Set<string>();
  const out: unknown[] = [];
  for (const v of [...base, ...over]) {
    const k = typeof v === 'object' ? undefined : JSON.stringify(v);
    if (k !== undefined) {
      if (seen.has(k)) continue;
      seen.add(k);
    }
    out.push(v);
  }
  return out;
}

/** Strips merge tags from a value that is not merged into anything (the first file's values). */
export function untag(v: unknown): unknown {
  if (isTag(v)) return v.tag === 'reset' ? undefined : untag(v.value);
  if (Array.isArray(v)) return v.map(untag);
  if (isMapping(v)) {
    const out: Raw = {};
    for (const [k, x] of Object.entries(v)) {
      const u = untag(x);
      if (u !== undefined) out[k] = u;
    }
    return out;
  }
  return v;
}

/** `path` is the generic key path (`services.*.ports`) that picks the rule. */
export function mergeValue(base: unknown, over: unknown, path: string): unknown {
  if (isTag(over)) return over.tag === 'reset' ? undefined : untag(over.value);
  if (base === undefined) return untag(over);
  if (over === undefined) return base;
  if (REPLACED.has(path)) return untag(over);
  if (Array.isArray(base) && Array.isArray(over)) return appendUnique(base, untag(over) as unknown[], UNIQUE_BY[path]);
  if (isMapping(base) && isMapping(over)) {
    const out: Raw = { ...base };
    for (const [k, v] of Object.entries(over)) {
      const child = path === '' ? k : path === 'services' || (!path.includes('.') && ['networks', 'volumes', 'secrets', 'configs'].includes(path)) ? `${path}.*` : `${path}.${k}`;
      const m = mergeValue(base[k], v, child);
      if (m === undefined) delete out[k];
      else out[k] = m;
    }
    return out;
  }
  return untag(over);
}

/** Merges a whole file's tree (top level) over another's. */
export function mergeFiles(base: Raw, over: Raw): Raw {
  return mergeValue(base, over, '') as Raw;
}

/** Merges one service over another (`extends`: the extending service is `over`). */
export function mergeServices(base: Raw, over: Raw): Raw {
  return mergeValue(base, over, 'services.*') as Raw;
}
