// Who may do what: the `auth.access` rules, groups and admins of the configuration. Used by the
// registry in htpasswd mode and by the built-in token service when it grants scopes.
import type { Action, AuthConfig } from './auth-config.js';
import { ACTIONS } from './actions.js';

/** The caller: a user name, or undefined when nobody logged in. */
export type Caller = string | undefined;

interface CompiledRule {
  patterns: string[];
  users: Set<string>;
  groups: string[];
  anonymous: boolean;
  actions: Action[];
  catalog: boolean;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `*` matches within one path component, `**` across components. */
export function globToRegExp(glob: string): RegExp {
  const re = glob
    .split('**')
    .map((part) => part.split('*').map(escapeRegExp).join('[^/]*'))
    .join('.*');
  return new RegExp(`^${re}$`);
}

/**
 * What a caller may do, as the registry and the token service ask it: the rules themselves for
 * users, a robot's or a federated identity's own grants for those (robot-tokens.ts, federation.ts).
 */
export interface AccessView {
  allowed(caller: Caller, repository: string): Set<Action>;
  isAdmin(caller: Caller): boolean;
  mayListCatalog(caller: Caller): boolean;
  mayGetCatalogToken(caller: Caller): boolean;
}

export type AccessConfig = Pick<AuthConfig, 'access' | 'groups' | 'admins'>;

export class AccessRules implements AccessView {
  private rules: CompiledRule[] = [];
  private groupsOf = new Map<string, Set<string>>();
  private admins: string[] = [];
  private readonly cache = new Map<string, RegExp>();

  constructor(config: AccessConfig) {
    this.update(config);
  }

  /** Replaces the rules (configuration reload). */
  update(config: AccessConfig): void {
    this.groupsOf = new Map();
    for (const [group, members] of Object.entries(config.groups)) {
      for (const m of members) {
        let set = this.groupsOf.get(m);
        if (!set) this.groupsOf.set(m, (set = new Set()));
        set.add(group);
      }
    }
    this.admins = config.admins;
    this.rules = config.access.map((r) => ({
      patterns: r.repositories,
      users: new Set(r.users),
      groups: r.groups,
      anonymous: r.anonymous,
      actions: r.actions,
      catalog: r.catalog,
    }));
  }

  /** Whether rules are configured at all (without rules: authenticated callers may do everything). */
  get configured(): boolean {
    return this.rules.length > 0;
  }

  isAdmin(caller: Caller): boolean {
    if (caller === undefined) return false;
    const groups = this.groupsOf.get(caller);
    return this.admins.some((a) => a === caller || (a.startsWith('@') && groups?.has(a.slice(1))));
  }

  private matches(pattern: string, caller: Caller, repository: string): boolean {
    if (pattern.includes('${user}')) {
      if (caller === undefined) return false;
      pattern = pattern.split('${user}').join(caller.replace(/[*]/g, ''));
    }
    let re = this.cache.get(pattern);
    if (!re) {
      re = globToRegExp(pattern);
      if (this.cache.size > 1000) this.cache.clear();
      this.cache.set(pattern, re);
    }
    return re.test(repository);
  }

  private applies(rule: CompiledRule, caller: Caller): boolean {
    if (rule.anonymous) return true;
    if (caller === undefined) return false;
    if (rule.users.has('*') || rule.users.has(caller)) return true;
    const groups = this.groupsOf.get(caller);
    return !!groups && rule.groups.some((g) => groups.has(g));
  }

  /** The actions the caller may take on a repository. */
  allowed(caller: Caller, repository: string): Set<Action> {
    if (this.isAdmin(caller) || (!this.configured && caller !== undefined)) return new Set(ACTIONS);
    const out = new Set<Action>();
    for (const rule of this.rules) {
      if (!this.applies(rule, caller)) continue;
      if (!rule.patterns.some((p) => this.matches(p, caller, repository))) continue;
      for (const a of rule.actions) out.add(a);
    }
    return out;
  }

  /** Whether the caller may list this registry's catalog (which then shows only what it may pull). */
  mayListCatalog(caller: Caller): boolean {
    return caller !== undefined || this.rules.some((r) => r.anonymous);
  }

  /**
   * Whether the token service grants `registry:catalog:*`: to logged-in callers (Stevedore filters
   * the list by the rules), to anonymous ones only through a rule with `catalog: true`. A token
   * may be for a registry that lists everything to the scope's holder (the CNCF registry), so an
   * anonymous rule for a public area must not hand out the whole list.
   */
  mayGetCatalogToken(caller: Caller): boolean {
    if (caller !== undefined) return true;
    return this.rules.some((r) => r.catalog && this.applies(r, caller));
  }
}
