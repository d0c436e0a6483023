// RUN --mount options (BuildKit's syntax): `type=cache` (a persistent directory per id, kept
// between builds under <root>/builder/cache-mounts), `type=bind` (read-only, from the context or
// a stage/image), `type=secret` (a --secret file, read-only, at /run/secrets/ID by default; never
// part of a layer: its mount point is removed after the step), `type=tmpfs`.
import { KindedError } from '../util/errors.js';
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join, posix } from 'node:path';

/** A RUN --mount option: kind `invalid` (util/errors.ts). */
export class MountOptionError extends KindedError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'MountOptionError';
  }
}

export interface MountSpec {
  type: 'cache' | 'bind' | 'secret' | 'tmpfs';
  target: string;
  id?: string;
  from?: string;
  source?: string;
  required?: boolean;
  readOnly: boolean;
}

/** Parses one `--mount=` value (comma-separated key=value; `ro`, `rw`, `readonly` bare). */
export function parseMount(value: string, workdir: string): MountSpec {
  const fields = new Map<string, string>();
  for (const part of value.split(',')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const k = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    fields.set(k, eq < 0 ? 'true' : part.slice(eq + 1).trim());
  }
  const type = (fields.get('type') ?? 'bind') as MountSpec['type'];
  if (!['cache', 'bind', 'secret', 'tmpfs'].includes(type)) throw new MountOptionError(`--mount type=${type} is not supported (cache, bind, secret, tmpfs)`);
  let target = fields.get('target') ?? fields.get('dst') ?? fields.get('destination');
  const id = fields.get('id');
  if (!target && type === 'secret') target = `/run/secrets/${id ?? ''}`;
  if (!target) throw new MountOptionError(`--mount=${value}: target is required`);
  if (!target.startsWith('/')) target = posix.join(workdir || '/', target);
  const ro = fields.get('ro') ?? fields.get('readonly');
  const readOnly = type === 'bind' || type === 'secret' ? fields.get('rw') !== 'true' && fields.get('readwrite') !== 'true' : ro === 'true';
  const spec: MountSpec = { type, target, readOnly };
  const secretId = id ?? (type === 'secret' ? posix.basename(target) : undefined);
  if (secretId) spec.id = secretId;
  if (fields.has('from')) spec.from = fields.get('from')!;
  if (fields.has('source') || fields.has('src')) spec.source = fields.get('source') ?? fields.get('src')!;
  if (fields.has('required')) spec.required = fields.get('required') === 'true';
  return spec;
}

/** The host directory of a cache mount (made when missing). */
export async function cacheMountDir(root: string, m: MountSpec): Promise<string> {
  const name = createHash('sha256').update(m.id ?? m.target).digest('hex').slice(0, 32);
  const dir = join(root, 'builder', 'cache-mounts', name);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  return dir;
}
