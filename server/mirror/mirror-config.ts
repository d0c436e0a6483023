// The `mirror` section of the server configuration (README "Pull-through mirror"): upstream
// registries mapped to namespace prefixes, tag revalidation, local namespaces, cache bound and
// pre-fetch list. Kept apart from server/config.ts, which includes it as one key.
import { z } from 'zod';
import { duration } from '../config-duration.js';

const NAMESPACE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const namespace = z.string().regex(NAMESPACE, { message: 'must be a repository path such as dockerhub or team/apps' });
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9a-fA-F:.]+\])(?::\d{1,5})?$/;

const upstream = z.strictObject({
  /** Names under `<prefix>/` are pulled through from this upstream (dockerhub/library/busybox). */
  prefix: namespace,
  /** The upstream as a client names it: host[:port] (docker.io means registry-1.docker.io). */
  registry: z.string().regex(HOST, { message: 'must be HOST or HOST:PORT' }),
  /** Further names containerd may send in `?ns=` for this upstream (the registry itself always matches). */
  aliases: z.array(z.string().min(1)).default([]),
  /** One-component names are official images under `library/` (busybox → library/busybox); default: for Docker Hub only. */
  officialImages: z.boolean().optional(),
  /** Plain HTTP or unverified TLS to this upstream. */
  insecure: z.boolean().default(false),
  /** Credentials for the upstream (Basic or its token service); empty: anonymous. */
  username: z.string().default(''),
  password: z.string().default(''),
  /** An OAuth2 refresh token for the upstream's token service, instead of a password. */
  identityToken: z.string().default(''),
});

const prefetchImage = z.strictObject({
  /** A name on this server with a tag or digest: dockerhub/library/busybox:1.36. */
  image: z.string().min(1),
  /** For an index: the platforms to fetch (os/arch[/variant]); empty: every platform. */
  platforms: z.array(z.string().regex(/^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9]+)?$/, { message: 'must be os/arch[/variant]' })).default([]),
});

export const mirrorConfigSchema = z
  .strictObject({
    upstreams: z.array(upstream).default([]),
    /**
     * The upstream (by prefix) for names outside every prefix and local namespace: this server as
     * Docker's `registry-mirrors` entry (bare `busybox` and `library/busybox` go to Docker Hub).
     * Empty: such names are local repositories.
     */
    defaultUpstream: z.string().default(''),
    /** Where pushes are allowed; empty: every name outside the upstream prefixes. */
    localNamespaces: z.array(namespace).default([]),
    /** A cached tag is served without asking the upstream for this long, then revalidated (HEAD). */
    tagTtl: duration.prefault('5m'),
    /** Upstream requests that fail are retried this many times before stale content is served or an error answered. */
    upstreamRetries: z.number().int().nonnegative().default(1),
    /** Where blobs in transit are spooled for concurrent readers when the storage cannot be read while written (S3); empty: the OS temp directory. */
    spoolDirectory: z.string().default(''),
    cache: z
      .strictObject({
        /** Upper bound of stored content in bytes; 0: no bound. */
        maxBytes: z.number().int().nonnegative().default(0),
        /** How often the bound is checked. */
        checkInterval: duration.prefault('10m'),
        /** Content younger than this is never evicted (protects pulls and pushes in progress). */
        gracePeriod: duration.prefault('10m'),
      })
      .prefault({}),
    prefetch: z
      .strictObject({
        images: z.array(prefetchImage).default([]),
        /** How often the list is refreshed (tags revalidated, new content fetched). */
        interval: duration.prefault('6h'),
      })
      .prefault({}),
  })
  .superRefine((m, ctx) => {
    const prefixes = new Set<string>();
    m.upstreams.forEach((u, i) => {
      if (prefixes.has(u.prefix)) ctx.addIssue({ code: 'custom', path: ['upstreams', i, 'prefix'], message: `duplicate prefix ${JSON.stringify(u.prefix)}` });
      prefixes.add(u.prefix);
    });
    if (m.defaultUpstream && !prefixes.has(m.defaultUpstream)) {
      ctx.addIssue({ code: 'custom', path: ['defaultUpstream'], message: `must be the prefix of a configured upstream` });
    }
    m.localNamespaces.forEach((ns, i) => {
      for (const p of prefixes) {
        if (ns === p || ns.startsWith(`${p}/`) || p.startsWith(`${ns}/`)) {
          ctx.addIssue({ code: 'custom', path: ['localNamespaces', i], message: `overlaps the upstream prefix ${JSON.stringify(p)}` });
        }
      }
    });
    m.upstreams.forEach((u, i) => {
      if (u.password && u.identityToken) ctx.addIssue({ code: 'custom', path: ['upstreams', i], message: 'password and identityToken exclude each other' });
    });
  })
  .prefault({});

export type MirrorConfig = z.output<typeof mirrorConfigSchema>;
export type UpstreamConfig = MirrorConfig['upstreams'][number];
