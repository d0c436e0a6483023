// Validation of the path and query parameters every route shares; bad input is a 4xx, never a 500.
import type { Context } from 'koa';
import { isValidTag, parseDigest, repositoryNameProblem, type Digest } from '../oci/index.js';
import { RegistryError } from './errors.js';

export function repositoryName(ctx: Context, index = 0): string {
  const raw = (ctx.captures as string[] | undefined)?.[index] ?? '';
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    throw new RegistryError('NAME_INVALID', 'invalid repository name', { name: raw });
  }
  const problem = repositoryNameProblem(name);
  if (problem) throw new RegistryError('NAME_INVALID', problem, { name: name.length > 300 ? `${name.slice(0, 300)}…` : name });
  return name;
}

export function capture(ctx: Context, index: number): string {
  const raw = (ctx.captures as string[] | undefined)?.[index] ?? '';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

export function digestParam(value: string | undefined): Digest {
  if (value === undefined || value === '') throw new RegistryError('DIGEST_INVALID', 'digest parameter missing');
  try {
    return parseDigest(value).digest;
  } catch (err) {
    throw new RegistryError('DIGEST_INVALID', (err as Error).message, { digest: value.slice(0, 300) });
  }
}

export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: Digest };

/** A manifest reference: a tag, or a digest (anything with a colon). */
export function referenceParam(value: string): Reference {
  if (value.includes(':')) return { kind: 'digest', digest: digestParam(value) };
  if (!isValidTag(value)) {
    throw new RegistryError('MANIFEST_INVALID', 'invalid tag: must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}', {
      tag: value.slice(0, 300),
    }, 400);
  }
  return { kind: 'tag', tag: value };
}

export function queryString(ctx: Context, key: string): string | undefined {
  const v = ctx.query[key];
  return Array.isArray(v) ? v[0] : v;
}
