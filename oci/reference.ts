// Image references as Docker parses and normalises them (distribution/reference):
// `busybox` → `docker.io/library/busybox:latest`; `host:port/ns/repo:tag@sha256:…`.
import { parseDigest, type Digest } from './digest.js';
import { MAX_NAME_LENGTH, isValidRepositoryName, isValidTag, repositoryNameProblem } from './name.js';
import { KindedError } from '../util/errors.js';

export const DEFAULT_REGISTRY = 'docker.io';
export const DEFAULT_TAG = 'latest';
/** Where docker.io's API actually lives. */
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';

export class InvalidReferenceError extends KindedError {
  constructor(
    readonly input: string,
    reason: string,
  ) {
    super('invalid', `invalid reference ${JSON.stringify(input.length > 200 ? `${input.slice(0, 200)}…` : input)}: ${reason}`);
    this.name = 'InvalidReferenceError';
  }
}

export interface ImageReference {
  /** Registry host with optional port, e.g. `docker.io`, `localhost:5000`, `[::1]:5000`. */
  registry: string;
  /** Repository path within the registry, e.g. `library/busybox`. */
  repository: string;
  tag?: string;
  digest?: Digest;
}

// A registry host: DNS name, IPv4 or bracketed IPv6, with an optional port.
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]+)?$`);

function looksLikeRegistry(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost' || component.startsWith('[');
}

/**
 * Whether a reference names its registry (`localhost:5000/x`, `docker.io/library/busybox`) rather
 * than relying on the default one (`busybox`, `user/app`): what docker's rule for the first
 * component says.
 */
export function namesRegistry(input: string): boolean {
  const slash = input.indexOf('/');
  return slash > 0 && looksLikeRegistry(input.slice(0, slash));
}

/** A name split from its `:tag` and `@digest` (both checked), the name itself not yet checked. */
function splitReference(input: string): { name: string; tag?: string; digest?: Digest } {
  if (input.length === 0) throw new InvalidReferenceError(input, 'empty reference');
  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    try {
      digest = parseDigest(rest.slice(at + 1)).digest;
    } catch (err) {
      throw new InvalidReferenceError(input, (err as Error).message);
    }
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isValidTag(tag)) throw new InvalidReferenceError(input, `invalid tag ${JSON.stringify(tag)}`);
  }
  if (rest.length === 0) throw new InvalidReferenceError(input, 'missing repository name');
  const out: { name: string; tag?: string; digest?: Digest } = { name: rest };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  return out;
}

/** A reference inside one registry: `path/to/repo[:tag][@digest]`, no host and no Docker Hub normalisation. */
export interface RepositoryReference {
  repository: string;
  tag?: string;
  digest?: Digest;
}

/**
 * Parses a repository-local reference, as a registry's own configuration names its repositories
 * (`dockerhub/library/busybox:1.36`); a reference without tag or digest gets `latest` unless
 * `defaultTag` is false.
 */
export function parseRepositoryReference(input: string, opts: { defaultTag?: boolean } = {}): RepositoryReference {
  const { name, tag, digest } = splitReference(input);
  const problem = repositoryNameProblem(name);
  if (problem) throw new InvalidReferenceError(input, problem);
  const ref: RepositoryReference = { repository: name };
  if (tag !== undefined) ref.tag = tag;
  else if (digest === undefined && opts.defaultTag !== false) ref.tag = DEFAULT_TAG;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/**
 * Parses and normalises a reference. A bare name gets `docker.io` (and `library/` for one-component
 * names on Docker Hub); a reference without tag or digest gets `latest` unless `defaultTag` is false.
 */
export function parseReference(input: string, opts: { defaultTag?: boolean } = {}): ImageReference {
  const split = splitReference(input);
  const rest = split.name;
  let { tag } = split;
  const { digest } = split;

  let registry = DEFAULT_REGISTRY;
  let repository = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0 && looksLikeRegistry(rest.slice(0, slash))) {
    registry = rest.slice(0, slash);
    repository = rest.slice(slash + 1);
    if (!DOMAIN.test(registry)) throw new InvalidReferenceError(input, `invalid registry host ${JSON.stringify(registry)}`);
  } else if (slash >= 0 && rest.slice(0, slash) !== rest.slice(0, slash).toLowerCase()) {
    // `Foo/bar`: an upper-case first component is neither a registry nor a valid path.
    throw new InvalidReferenceError(input, 'repository name must be lowercase');
  }
  if (registry === 'index.docker.io') registry = DEFAULT_REGISTRY;
  if (registry === DEFAULT_REGISTRY && !repository.includes('/')) repository = `library/${repository}`;
  if (repository !== repository.toLowerCase()) throw new InvalidReferenceError(input, 'repository name must be lowercase');
  if (repository.length > MAX_NAME_LENGTH) throw new InvalidReferenceError(input, `repository name is longer than ${MAX_NAME_LENGTH} characters`);
  if (!isValidRepositoryName(repository)) throw new InvalidReferenceError(input, `invalid repository name ${JSON.stringify(repository)}`);
  if (tag === undefined && digest === undefined && opts.defaultTag !== false) tag = DEFAULT_TAG;
  const ref: ImageReference = { registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** The fully qualified form: `docker.io/library/busybox:latest@sha256:…`. */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** Docker's short form: `busybox:latest`, `user/app:1`, `localhost:5000/x:y`. */
export function familiarReference(ref: ImageReference): string {
  let name = `${ref.registry}/${ref.repository}`;
  if (ref.registry === DEFAULT_REGISTRY) name = ref.repository.startsWith('library/') ? ref.repository.slice(8) : ref.repository;
  return `${name}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** The tag or digest to ask the registry for (digest wins, as Docker does). */
export function referenceSelector(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG;
}
