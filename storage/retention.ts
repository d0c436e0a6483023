// Tag retention policies: which tags to delete, per repository pattern. A tag's push time is the
// modification time of its tag link (rewritten on every push of the tag).
//
// For a repository, the first policy whose `repositories` patterns match applies. A tag is
// deleted when none of these keeps it:
// - it matches a `protect` pattern (never deleted, whatever else the policy says);
// - it matches a `keepTags` pattern;
// - it is among the `keepLast` most recently pushed tags (when keepLast is set);
// - it was pushed less than `deleteOlderThan` ago (when deleteOlderThan is set).
// A policy with none of keepLast, keepTags and deleteOlderThan deletes nothing. Deleting a tag
// only untags: the manifest goes at the next garbage collection when gc.deleteUntagged is on.
import type { Digest } from '../oci/index.js';
import { isNotFound, type StorageDriver } from './driver.js';
import { scanRepositories } from './garbage-collector.js';
import { layout } from './layout.js';
import { compareCodePoints } from './manifest-store.js';

export interface RetentionPolicy {
  /** Repository name globs (`*` within a path component, `**` across components, `?` one character). */
  repositories: string[];
  keepLast?: number;
  /** Tag globs kept. */
  keepTags?: string[];
  /** Milliseconds. */
  deleteOlderThan?: number;
  /** Tag globs never deleted. */
  protect?: string[];
}

export interface TagDeletion {
  repository: string;
  tag: string;
  digest?: Digest;
  pushedAt: Date;
}

export interface RetentionOptions {
  dryRun?: boolean;
  /** Tags no policy may delete whatever it says (immutable tags: server/policy/immutable-tags.ts). */
  keepTag?: (repository: string, tag: string) => boolean;
  now?: () => number;
  concurrency?: number;
}

const globCache = new Map<string, RegExp>();

/** Glob to RegExp: `**` any characters, `*` any but `/`, `?` one character but `/`. */
export function globToRegExp(glob: string): RegExp {
  let re = globCache.get(glob);
  if (re) return re;
  let src = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      src += '.*';
      i++;
    } else if (c === '*') src += '[^/]*';
    else if (c === '?') src += '[^/]';
    else src += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  re = new RegExp(`^${src}$`);
  globCache.set(glob, re);
  return re;
}

export function matchesAny(globs: readonly string[] | undefined, value: string): boolean {
  return (globs ?? []).some((g) => globToRegExp(g).test(value));
}

/** Which of a repository's tags a policy deletes (`tags`: tag → push time). */
export function tagsToDelete(policy: RetentionPolicy, tags: ReadonlyMap<string, Date>, now: number): string[] {
  if (policy.keepLast === undefined && policy.deleteOlderThan === undefined && !policy.keepTags?.length) return [];
  // Newest first; equal times by name so the choice is stable.
  const ordered = [...tags].sort((a, b) => b[1].getTime() - a[1].getTime() || compareCodePoints(a[0], b[0]));
  const out: string[] = [];
  ordered.forEach(([tag, pushed], i) => {
    if (matchesAny(policy.protect, tag) || matchesAny(policy.keepTags, tag)) return;
    if (policy.keepLast !== undefined && i < policy.keepLast) return;
    if (policy.deleteOlderThan !== undefined && now - pushed.getTime() < policy.deleteOlderThan) return;
    out.push(tag);
  });
  return out.sort(compareCodePoints);
}

export function policyFor(policies: readonly RetentionPolicy[], repository: string): RetentionPolicy | undefined {
  return policies.find((p) => matchesAny(p.repositories, repository));
}

/** Applies the policies (or, with dryRun, only says what they would delete). */
export async function applyRetention(driver: StorageDriver, policies: readonly RetentionPolicy[], opts: RetentionOptions = {}): Promise<TagDeletion[]> {
  if (policies.length === 0) return [];
  const now = (opts.now ?? Date.now)();
  const repos = await scanRepositories(driver, opts.concurrency ?? 8);
  const out: TagDeletion[] = [];
  for (const repo of [...repos.values()].sort((a, b) => compareCodePoints(a.name, b.name))) {
    const policy = policyFor(policies, repo.name);
    if (!policy) continue;
    const times = new Map([...repo.tags].map(([t, s]) => [t, s.modTime]));
    for (const tag of tagsToDelete(policy, times, now)) {
      if (opts.keepTag?.(repo.name, tag)) continue;
      const pushedAt = times.get(tag)!;
      const path = layout.tagLink(repo.name, tag);
      let digest: Digest | undefined;
      try {
        digest = (await driver.getContent(path)).toString('utf8') as Digest;
        if (!opts.dryRun) {
          // Pushed again since the listing: its push time changed, the decision no longer holds.
          const st = await driver.stat(path);
          if (st.modTime.getTime() !== pushedAt.getTime()) continue;
          await driver.delete(layout.tagDir(repo.name, tag));
        }
      } catch (err) {
        if (isNotFound(err)) continue; // deleted meanwhile
        throw err;
      }
      out.push({ repository: repo.name, tag, digest, pushedAt });
    }
  }
  return out;
}

export function formatTagDeletion(d: TagDeletion): string {
  return `tag ${d.repository}:${d.tag} ${d.digest ?? ''}`.trimEnd();
}
