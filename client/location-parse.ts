// Parsing skopeo-style locations: a bare reference (or docker://REF) is a registry; `oci:DIR[:TAG]`
// is an OCI image layout; `docker-archive:FILE[:REF]` is a `docker save` / `docker load` tarball.
// Pure parsing, apart from opening (locations.ts), so registry-only commands load nothing else.
import { InvalidReferenceError, parseReference, type ImageReference } from '../oci/reference.js'; // not the index: `tags` loads this
import { ClientError } from './errors.js';

const UNSUPPORTED_TRANSPORTS = ['dir', 'containers-storage', 'docker-daemon', 'oci-archive'];

export type Location =
  | { kind: 'registry'; ref: ImageReference }
  | { kind: 'oci'; dir: string; tag?: string }
  /** `ref` names the image (RepoTags); `index` picks the Nth image of an archive (`@N`, reading only). */
  | { kind: 'docker-archive'; file: string; ref?: ImageReference; index?: number };

function parseDockerArchive(rest: string): Location {
  // As skopeo: the file name ends at the first colon; the rest (which may hold colons) is the reference.
  const colon = rest.indexOf(':');
  const file = colon >= 0 ? rest.slice(0, colon) : rest;
  const refText = colon >= 0 ? rest.slice(colon + 1) : '';
  if (!file) throw new ClientError('docker-archive: needs a file: docker-archive:FILE[:NAME[:TAG]]');
  if (!refText) return { kind: 'docker-archive', file };
  if (refText.startsWith('@')) {
    const n = Number(refText.slice(1));
    if (!/^@\d+$/.test(refText) || !Number.isSafeInteger(n)) throw new ClientError(`docker-archive:${rest}: @N must be an image's position in the archive (0, 1, …)`);
    return { kind: 'docker-archive', file, index: n };
  }
  let ref: ImageReference;
  try {
    ref = parseReference(refText);
  } catch (err) {
    if (err instanceof InvalidReferenceError) throw new ClientError(`docker-archive:${rest}: ${err.message}`);
    throw err;
  }
  if (ref.digest) throw new ClientError(`docker-archive:${rest}: a docker archive names images by NAME:TAG, not by digest`);
  return { kind: 'docker-archive', file, ref };
}

export function parseLocation(text: string, exists: (path: string) => boolean = (path) => process.getBuiltinModule('node:fs').existsSync(path)): Location {
  if (text.startsWith('docker-archive:')) return parseDockerArchive(text.slice('docker-archive:'.length));
  if (text.startsWith('oci:')) {
    const rest = text.slice(4);
    const colon = rest.lastIndexOf(':');
    if (colon > rest.lastIndexOf('/') && colon > 0) return { kind: 'oci', dir: rest.slice(0, colon), tag: rest.slice(colon + 1) || undefined };
    if (!rest) throw new ClientError('oci: needs a directory: oci:DIR[:TAG]');
    return { kind: 'oci', dir: rest };
  }
  const transport = /^([a-z-]+):/.exec(text)?.[1];
  if (transport && UNSUPPORTED_TRANSPORTS.includes(transport)) {
    throw new ClientError(`${transport}: locations are not supported (use a registry reference, oci:DIR[:TAG] or docker-archive:FILE[:REF])`);
  }
  if (!text.startsWith('docker://') && looksLikePath(text, exists)) {
    throw new ClientError(`${text} is a path, not an image reference`, {
      hint: `for an OCI layout write oci:${text}, for a docker save archive docker-archive:${text}`,
    });
  }
  const ref = text.startsWith('docker://') ? text.slice('docker://'.length) : text;
  try {
    return { kind: 'registry', ref: parseReference(ref) };
  } catch (err) {
    if (err instanceof InvalidReferenceError) throw new ClientError(err.message);
    throw err;
  }
}

/**
 * Whether a location without a transport is a file system path the user meant as `oci:` or
 * `docker-archive:` (which would otherwise fail as "repository name must be lowercase", or go to
 * Docker Hub): it starts like a path (`/`, `./`, `../`, `~`), or it has a `/`, no registry host,
 * and names something that exists. A bare name (`busybox`) is always a reference.
 */
export function looksLikePath(text: string, exists: (path: string) => boolean): boolean {
  if (/^(\/|\.\.?(\/|$)|~)/.test(text)) return true;
  const slash = text.indexOf('/');
  if (slash < 0) return false;
  const first = text.slice(0, slash);
  const hasHost = first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[');
  return !hasHost && exists(text);
}
