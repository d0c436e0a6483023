// Immutable tags (config policy.immutableTags): once such a tag exists it keeps pointing at the
// same manifest. The routes refuse to move it (a push of another manifest under it) or delete it
// (a tag delete, or a delete of the manifest it points at); re-pushing the same manifest is
// accepted, so CI retries succeed. Retention skips these tags (server/gc-scheduler.ts).
import { matchesAny } from '../../storage/index.js';
import type { ImmutableTagRuleConfig } from './policy-config.js';

export interface ImmutableTagRule {
  /** As configured, or `immutableTags[N]`. */
  name: string;
  repositories: readonly string[];
  tags: readonly string[];
  semver: boolean;
}

// semver.org 2.0.0 without build metadata (`+` is not allowed in tags), with an optional `v`.
const NUMBER = '(?:0|[1-9]\\d*)';
const PRE_ID = '(?:0|[1-9]\\d*|\\d*[A-Za-z-][0-9A-Za-z-]*)';
const SEMVER = new RegExp(`^v?${NUMBER}\\.${NUMBER}\\.${NUMBER}(?:-${PRE_ID}(?:\\.${PRE_ID})*)?$`);

/** Whether a tag is a semantic version: 1.2.3, v1.2.3, 1.0.0-rc.1 (not 1.2, 01.2.3 or latest). */
export function isSemverTag(tag: string): boolean {
  return SEMVER.test(tag);
}

export class ImmutableTags {
  readonly rules: readonly ImmutableTagRule[];

  constructor(config: readonly ImmutableTagRuleConfig[]) {
    this.rules = config.map((r, i) => ({ name: r.name ?? `immutableTags[${i}]`, repositories: r.repositories, tags: r.tags, semver: r.semver }));
  }

  /** Whether any rule covers the repository (a delete by digest then checks its tags). */
  appliesTo(repo: string): boolean {
    return this.rules.some((r) => matchesAny(r.repositories, repo));
  }

  /** The first rule that makes `repo:tag` immutable, or undefined. */
  ruleFor(repo: string, tag: string): ImmutableTagRule | undefined {
    return this.rules.find((r) => matchesAny(r.repositories, repo) && (matchesAny(r.tags, tag) || (r.semver && isSemverTag(tag))));
  }

  /** For retention (RetentionOptions.keepTag): whether any rule makes the tag immutable. */
  readonly protects = (repo: string, tag: string): boolean => this.ruleFor(repo, tag) !== undefined;

  /** A one-line description of a rule for messages: `"releases" (repositories team/**, tags release-*, semver)`. */
  static describe(rule: ImmutableTagRule): string {
    const what = [...(rule.tags.length ? [`tags ${rule.tags.join(', ')}`] : []), ...(rule.semver ? ['semantic versions'] : [])].join(' and ');
    return `"${rule.name}" (repositories ${rule.repositories.join(', ')}; ${what})`;
  }
}
