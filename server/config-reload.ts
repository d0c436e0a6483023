// Configuration reload (SIGHUP): what can change while the server runs is applied, everything
// else is reported as needing a restart and keeps its running value. Only key names are logged
// (values may hold secrets such as notification headers), except the log level.
import type { Config } from './config.js';

/** Keys (and everything under them) that apply without a restart. */
export const RELOADABLE_KEYS = ['log.level', 'log.access', 'rateLimit', 'notifications', 'auth.access', 'auth.groups', 'auth.admins'] as const;

/** Dotted paths of the leaves that differ; arrays are compared whole (endpoint lists, filters). */
export function changedKeys(a: unknown, b: unknown, prefix = ''): string[] {
  const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].sort().flatMap((k) => changedKeys(a[k], b[k], prefix ? `${prefix}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix];
}

function isReloadable(key: string): boolean {
  return RELOADABLE_KEYS.some((r) => key === r || key.startsWith(`${r}.`));
}

export interface ReloadPlan {
  /** Changed keys that are applied now. */
  apply: string[];
  /** Changed keys that keep their running value until a restart. */
  restart: string[];
}

export function planReload(running: Config, next: Config): ReloadPlan {
  const changed = changedKeys(running, next);
  return { apply: changed.filter(isReloadable), restart: changed.filter((k) => !isReloadable(k)) };
}

/** What a running server does with the reloadable parts. */
export interface ReloadTargets {
  setLogLevel(level: Config['log']['level']): void;
  setRateLimits(config: Config['rateLimit']): void;
  setNotifications(config: Config['notifications']): void;
  /** Access rules, groups and admins (server/auth). */
  setAccessRules?(config: Config['auth']): void;
}

/**
 * Applies the reloadable parts of `next` to the live `running` configuration object (which the
 * request handlers read) and to the targets. Returns the plan that was carried out.
 */
export function applyReload(running: Config, next: Config, targets: ReloadTargets): ReloadPlan {
  const plan = planReload(running, next);
  const touched = (prefix: string) => plan.apply.some((k) => k === prefix || k.startsWith(`${prefix}.`));
  if (touched('log.level')) {
    running.log.level = next.log.level;
    targets.setLogLevel(next.log.level);
  }
  if (touched('log.access')) running.log.access = structuredClone(next.log.access);
  if (touched('rateLimit')) {
    running.rateLimit = structuredClone(next.rateLimit);
    targets.setRateLimits(running.rateLimit);
  }
  if (touched('notifications')) {
    running.notifications = structuredClone(next.notifications);
    targets.setNotifications(running.notifications);
  }
  if (touched('auth.access') || touched('auth.groups') || touched('auth.admins')) {
    running.auth.access = structuredClone(next.auth.access);
    running.auth.groups = structuredClone(next.auth.groups);
    running.auth.admins = structuredClone(next.auth.admins);
    targets.setAccessRules?.(running.auth);
  }
  return plan;
}
