// Manifests: GET/HEAD/PUT/DELETE by tag or digest.
import type Router from '@koa/router';
import type { Context } from 'koa';
import {
  Digester,
  MANIFEST_MEDIA_TYPES,
  parseDigest,
  parseManifest,
  referencedBlobs,
  referencedManifests,
  referrerDescriptor,
  ValidationError,
  type Descriptor,
  type Digest,
  type ParsedManifest,
} from '../../oci/index.js';
import { KeyedLock } from '../../storage/keyed-lock.js';
import { mapLimit } from '../../storage/index.js';
import { emptyResponse } from '../empty-response.js';
import { RegistryError } from '../errors.js';
import type { RegistryContent } from '../registry-content.js';
import type { RegistryDeps } from '../registry-deps.js';
import { readBoundedBody } from '../request-body.js';
import { capture, referenceParam, repositoryName, type Reference } from '../route-params.js';
import { requireDeleteEnabled } from './delete-guard.js';
import { ImmutableTags, policyOf, type ImmutableTagRule } from '../policy/index.js';

export const MANIFEST = /^\/v2\/(.+)\/manifests\/([^/]+)$/;

/**
 * Storage look-ups one manifest push runs at a time: a push touches each referenced blob once,
 * and a manifest of thousands of them must neither exhaust file handles nor starve other clients.
 */
const REFERENCE_CHECKS_AT_ONCE = 8;

/** The descriptors with distinct digests, each with every size it was declared with. */
export function distinctReferences(descriptors: readonly Descriptor[]): Map<Digest, Set<number>> {
  const out = new Map<Digest, Set<number>>();
  for (const d of descriptors) {
    const sizes = out.get(d.digest);
    if (sizes) sizes.add(d.size);
    else out.set(d.digest, new Set([d.size]));
  }
  return out;
}

/**
 * The stored media type is always answered as it is (never converted). A client whose Accept
 * lists manifest types but not this one is told the manifest is unknown to it, as the CNCF
 * registry does, rather than sent a document it cannot parse.
 */
function acceptable(ctx: Context, mediaType: string): boolean {
  const accept = ctx.get('Accept');
  if (!accept) return true;
  const types = accept.split(',').map((t) => (t.split(';')[0] ?? '').trim().toLowerCase());
  if (types.some((t) => t === '*/*' || t === 'application/*' || t === mediaType)) return true;
  return !types.some((t) => MANIFEST_MEDIA_TYPES.includes(t));
}

function lookupReference(ctx: Context, write: boolean): Reference {
  try {
    return referenceParam(capture(ctx, 1));
  } catch (err) {
    // An invalid tag cannot name a stored manifest: unknown on reads, invalid on writes.
    if (!write && err instanceof RegistryError && err.code === 'MANIFEST_INVALID') {
      throw new RegistryError('MANIFEST_UNKNOWN', err.message, err.detail);
    }
    throw err;
  }
}

/** The refusal of a change to an immutable tag (server/policy/immutable-tags.ts). */
function immutableTagError(name: string, tag: string, rule: ImmutableTagRule, current: Digest, what: string): RegistryError {
  return new RegistryError(
    'DENIED',
    `tag ${tag} of ${name} is immutable under rule ${ImmutableTags.describe(rule)}: it points at ${current} and ${what}`,
    { repository: name, tag, digest: current, rule: rule.name },
  );
}

export function registerManifests(router: Router, deps: RegistryDeps, content: RegistryContent): void {
  const { storage, config, events } = deps;
  const { manifests, blobs } = storage;
  const policy = policyOf(deps);
  // Checking an immutable tag and writing it is one step for the pushes this process serves.
  const immutableTagLocks = new KeyedLock();

  router.get(MANIFEST, async (ctx) => {
    const name = repositoryName(ctx);
    const ref = lookupReference(ctx, false);
    const m = await content.manifest(ctx, name, ref);
    if (!acceptable(ctx, m.mediaType)) {
      throw new RegistryError('MANIFEST_UNKNOWN', `manifest is ${m.mediaType}, which the Accept header does not include`, {
        mediaType: m.mediaType,
      });
    }
    const etag = `"${m.digest}"`;
    ctx.set('Docker-Content-Digest', m.digest);
    ctx.set('ETag', etag);
    ctx.type = m.mediaType;
    if (ctx.get('If-None-Match') === etag) {
      ctx.status = 304;
      return;
    }
    ctx.status = 200;
    if (ctx.method !== 'HEAD') ctx.body = m.content;
    ctx.type = m.mediaType;
    ctx.set('Content-Length', String(m.content.length));
    if (ctx.method === 'GET') {
      events.emit(ctx, {
        kind: 'manifest',
        action: 'pull',
        repository: name,
        digest: m.digest,
        mediaType: m.mediaType,
        size: m.content.length,
        ...(ref.kind === 'tag' ? { tag: ref.tag } : {}),
      });
    }
  });

  router.put(MANIFEST, async (ctx) => {
    const name = repositoryName(ctx);
    const ref = lookupReference(ctx, true);
    const content = await readBoundedBody(ctx, config.limits.manifestMaxBytes);
    const algorithm = ref.kind === 'digest' ? parseDigest(ref.digest).algorithm.name : 'sha256';
    const digester = new Digester(algorithm);
    digester.update(content);
    const digest = digester.digest();
    if (ref.kind === 'digest' && ref.digest !== digest) {
      throw new RegistryError('DIGEST_INVALID', `manifest digest ${digest} does not match ${ref.digest}`, {
        expected: ref.digest,
        actual: digest,
      });
    }
    let parsed: ParsedManifest;
    try {
      parsed = parseManifest(content, ctx.get('Content-Type'));
    } catch (err) {
      if (err instanceof ValidationError) throw new RegistryError('MANIFEST_INVALID', err.message, { path: err.path });
      throw err;
    }
    const max = config.limits.manifestMaxReferences;
    const count = referencedBlobs(parsed).length + referencedManifests(parsed).length;
    if (count > max) {
      throw new RegistryError('MANIFEST_INVALID', `manifest references ${count} descriptors; at most ${max} are accepted`, {
        references: count,
        limit: max,
      });
    }
    const subject = parsed.subject?.digest;
    const store = async () => {
      await checkReferences(name, parsed);
      await policy.quotas.admit(name, digest, content.length);
      await manifests.put(name, { digest, mediaType: parsed.mediaType, size: content.length, subject }, content);
      if (subject) await manifests.addReferrer(name, subject, referrerDescriptor(parsed, digest, content.length));
      if (ref.kind === 'tag') await manifests.tag(name, ref.tag, digest);
    };
    const rule = ref.kind === 'tag' ? policy.immutableTags.ruleFor(name, ref.tag) : undefined;
    if (rule && ref.kind === 'tag') {
      await immutableTagLocks.run(`${name}:${ref.tag}`, async () => {
        // The same manifest again is accepted (a CI job retried); another one is refused.
        const current = await manifests.resolveTag(name, ref.tag);
        if (current !== undefined && current !== digest) throw immutableTagError(name, ref.tag, rule, current, 'cannot be moved to another manifest; push under a new tag');
        await store();
      });
    } else {
      await store();
    }

    emptyResponse(ctx, 201);
    ctx.set('Location', `/v2/${name}/manifests/${digest}`);
    ctx.set('Docker-Content-Digest', digest);
    if (subject) ctx.set('OCI-Subject', subject);
    events.emit(ctx, {
      kind: 'manifest',
      action: 'push',
      repository: name,
      digest,
      mediaType: parsed.mediaType,
      size: content.length,
      ...(ref.kind === 'tag' ? { tag: ref.tag } : {}),
    });
  });

  /** Every blob and child manifest must be in the repository, with the size the descriptor claims. */
  async function checkReferences(name: string, parsed: ParsedManifest): Promise<void> {
    const missing: Digest[] = [];
    const wrongSize: { digest: Digest; declared: number; stored: number }[] = [];
    const check = (digest: Digest, sizes: Set<number>, stored: number | undefined) => {
      if (stored === undefined) missing.push(digest);
      else for (const declared of sizes) if (stored !== declared) wrongSize.push({ digest, declared, stored });
    };
    // Links are rewritten before the content is checked: garbage collection running now keeps
    // what a push uses (see storage/garbage-collector.ts). Each distinct digest once, a few at a time.
    const work = [
      ...[...distinctReferences(referencedBlobs(parsed))].map(([digest, sizes]) => async () =>
        check(digest, sizes, (await blobs.refreshLink(name, digest))?.size),
      ),
      ...[...distinctReferences(referencedManifests(parsed))].map(([digest, sizes]) => async () =>
        check(digest, sizes, (await manifests.refreshRevision(name, digest))?.size),
      ),
    ];
    await mapLimit(work, REFERENCE_CHECKS_AT_ONCE, (run) => run());
    if (missing.length > 0) {
      throw new RegistryError('MANIFEST_BLOB_UNKNOWN', `manifest references unknown content: ${missing.join(', ')}`, {
        digests: missing,
      });
    }
    if (wrongSize.length > 0) {
      throw new RegistryError('MANIFEST_INVALID', `descriptor sizes do not match the stored content: ${wrongSize.map((w) => w.digest).join(', ')}`, {
        sizes: wrongSize,
      });
    }
  }

  /** Deleting an immutable tag, or a manifest an immutable tag points at, is refused. */
  async function refuseImmutableDelete(name: string, ref: Reference, digest: Digest): Promise<void> {
    if (!policy.immutableTags.appliesTo(name)) return;
    const tags = ref.kind === 'tag' ? [ref.tag] : await manifests.tags(name);
    for (const tag of tags) {
      const rule = policy.immutableTags.ruleFor(name, tag);
      if (!rule) continue;
      const current = ref.kind === 'tag' ? digest : await manifests.resolveTag(name, tag);
      if (current !== digest) continue;
      throw immutableTagError(name, tag, rule, digest, ref.kind === 'tag' ? 'cannot be deleted' : 'its manifest cannot be deleted');
    }
  }

  router.delete(MANIFEST, async (ctx) => {
    const name = repositoryName(ctx);
    const ref = lookupReference(ctx, false);
    requireDeleteEnabled(config);
    // What is deleted, for the event (looked up first: afterwards it is gone).
    const digest = ref.kind === 'digest' ? ref.digest : await manifests.resolveTag(name, ref.tag);
    const revision = digest ? await manifests.revision(name, digest) : undefined;
    if (digest) await refuseImmutableDelete(name, ref, digest);
    const removed = ref.kind === 'digest' ? await manifests.delete(name, ref.digest) : await manifests.untag(name, ref.tag);
    if (!removed) {
      throw new RegistryError('MANIFEST_UNKNOWN', undefined, ref.kind === 'tag' ? { tag: ref.tag } : { digest: ref.digest });
    }
    emptyResponse(ctx, 202);
    events.emit(ctx, {
      kind: 'manifest',
      action: 'delete',
      repository: name,
      ...(digest ? { digest } : {}),
      ...(revision ? { mediaType: revision.mediaType, size: revision.size } : {}),
      ...(ref.kind === 'tag' ? { tag: ref.tag } : {}),
    });
  });
}
