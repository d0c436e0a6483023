// The `policy` section of the server configuration: immutable tags and storage quotas
// (docs/configuration.md "policy"). Both are read at start (not reloadable).
import { z } from 'zod';
import { duration } from '../config-duration.js';
import { parseByteSize } from './byte-size.js';

const glob = z.string().min(1);
const ruleName = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, { message: 'must be 1-64 letters, digits, ".", "_" or "-"' });

/** Bytes as a number, or a string with a unit: "500MB", "10GiB", "1.5TB". */
const byteSize = z.union([z.number().int().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const n = parseByteSize(v);
  if (n === undefined) {
    ctx.addIssue({ code: 'custom', message: `invalid size ${JSON.stringify(v)} (use bytes, or e.g. 500MB, 10GiB)` });
    return z.NEVER;
  }
  return n;
});

const immutableTagRule = z
  .strictObject({
    /** Named in the refusal's message; default: the rule's position, `immutableTags[0]`. */
    name: ruleName.optional(),
    /** Repository globs the rule applies to. */
    repositories: z.array(glob).min(1),
    /** Tag globs that are immutable (`release-*`, `v*`). */
    tags: z.array(glob).default([]),
    /** Tags that are semantic versions (1.2.3, v1.2.3, 2.0.0-rc.1) are immutable too. */
    semver: z.boolean().default(false),
  })
  .refine((r) => r.tags.length > 0 || r.semver, { message: 'a rule needs tags or semver: true' });

const quotaRule = z.strictObject({
  /** Named in refusals, the API, the metrics and `stevedore quota ls`; default: the globs. */
  name: ruleName.optional(),
  /** The namespace: repository globs whose blobs count together against the limit. */
  repositories: z.array(glob).min(1),
  /** The most unique blob bytes the namespace may hold. */
  limit: byteSize,
});

export const policyConfigSchema = z
  .strictObject({
    immutableTags: z.array(immutableTagRule).default([]),
    quotas: z
      .array(quotaRule)
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        list.forEach((q, i) => {
          const id = JSON.stringify([...q.repositories].sort());
          if (seen.has(id)) ctx.addIssue({ code: 'custom', path: [i, 'repositories'], message: 'another quota has the same repositories' });
          seen.add(id);
        });
      })
      .default([]),
    /**
     * How old the usage a quota check uses may be: each process lists a namespace's markers again
     * after this long (what other replicas pushed meanwhile is seen then).
     */
    quotaUsageMaxAge: duration.prefault('10s'),
  })
  .prefault({});

export type PolicyConfig = z.output<typeof policyConfigSchema>;
export type ImmutableTagRuleConfig = PolicyConfig['immutableTags'][number];
export type QuotaRuleConfig = PolicyConfig['quotas'][number];
