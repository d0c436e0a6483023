// Health checks, docker's rules: the check (HEALTHCHECK of the image, or the --health-* flags of
// run/create) resolved once at creation, and the status it gives after each probe. Pure: the
// monitor (health-probe.ts) runs the probes and stores what this computes in the record.
import { parseDuration } from '../../util/duration.js';
import { UsageError } from './run-options.js';

/** The image config's Healthcheck (durations in nanoseconds, as Docker writes them). */
export interface ImageHealthcheck {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
}

/** What the monitor runs: the command as given to the runtime, durations in milliseconds. */
export interface HealthConfig {
  /** Docker's form: ["CMD", args...] or ["CMD-SHELL", "text"]. */
  test: string[];
  intervalMs: number;
  timeoutMs: number;
  startPeriodMs: number;
  retries: number;
}

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

export interface HealthResult {
  Start: string;
  End: string;
  ExitCode: number;
  Output: string;
}

/** Docker's State.Health. */
export interface HealthState {
  Status: HealthStatus;
  FailingStreak: number;
  Log: HealthResult[];
}

export interface HealthFlags {
  healthCmd?: string;
  healthInterval?: string;
  healthTimeout?: string;
  healthRetries?: string;
  healthStartPeriod?: string;
  /** commander's --no-healthcheck: false when given. */
  healthcheck?: boolean;
}

// Docker's defaults.
const DEFAULT_INTERVAL_MS = 30_000;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_RETRIES = 3;
/** Docker keeps the last five results. */
export const HEALTH_LOG_LENGTH = 5;
/** and at most this much of each one's output. */
export const HEALTH_OUTPUT_LIMIT = 4096;

function flagDuration(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined) throw new UsageError(`invalid --${flag} ${JSON.stringify(text)}: a duration like 30s, 1m30s or 500ms`);
  return ms;
}

/**
 * The check a container gets: the flags over the image's Healthcheck field by field (docker's
 * merge), none with --no-healthcheck or an image's `HEALTHCHECK NONE`.
 */
export function resolveHealthcheck(image: ImageHealthcheck | undefined, flags: HealthFlags): HealthConfig | undefined {
  const interval = flagDuration('health-interval', flags.healthInterval);
  const timeout = flagDuration('health-timeout', flags.healthTimeout);
  const startPeriod = flagDuration('health-start-period', flags.healthStartPeriod);
  let retries: number | undefined;
  if (flags.healthRetries !== undefined) {
    if (!/^[0-9]+$/.test(flags.healthRetries)) throw new UsageError(`invalid --health-retries ${JSON.stringify(flags.healthRetries)}: a number`);
    retries = Number(flags.healthRetries);
  }
  const anyHealthFlag = flags.healthCmd !== undefined || interval !== undefined || timeout !== undefined || startPeriod !== undefined || retries !== undefined;
  if (flags.healthcheck === false) {
    if (anyHealthFlag) throw new UsageError('--no-healthcheck conflicts with the --health-* options');
    return undefined;
  }
  const test = flags.healthCmd !== undefined ? ['CMD-SHELL', flags.healthCmd] : image?.Test;
  if (!test || test.length === 0 || test[0] === 'NONE') return undefined;
  if ((test[0] !== 'CMD' && test[0] !== 'CMD-SHELL') || test.length < 2) throw new UsageError(`the image's health check ${JSON.stringify(test)} is not CMD or CMD-SHELL with a command`);
  const ns = (v: number | undefined) => (v ? v / 1e6 : undefined); // 0 in the image: the default
  return {
    test,
    intervalMs: interval || ns(image?.Interval) || DEFAULT_INTERVAL_MS,
    timeoutMs: timeout || ns(image?.Timeout) || DEFAULT_TIMEOUT_MS,
    startPeriodMs: startPeriod ?? ns(image?.StartPeriod) ?? 0,
    retries: retries || image?.Retries || DEFAULT_RETRIES,
  };
}

/** The process a probe runs: CMD-SHELL through /bin/sh -c, as docker does. */
export function probeArgs(test: string[]): string[] {
  return test[0] === 'CMD-SHELL' ? ['/bin/sh', '-c', test.slice(1).join(' ')] : test.slice(1);
}

export function initialHealth(): HealthState {
  return { Status: 'starting', FailingStreak: 0, Log: [] };
}

/**
 * The state after one probe. A success makes it healthy at once; failures count once the start
 * period is over, and `retries` of them in a row make it unhealthy (docker's rule: failures in the
 * start period do not count, but a success there does).
 */
export function nextHealth(state: HealthState, result: HealthResult, opts: { retries: number; inStartPeriod: boolean }): HealthState {
  const Log = [...state.Log, result].slice(-HEALTH_LOG_LENGTH);
  if (result.ExitCode === 0) return { Status: 'healthy', FailingStreak: 0, Log };
  if (opts.inStartPeriod && state.Status === 'starting') return { ...state, Log };
  const FailingStreak = state.FailingStreak + 1;
  return { Status: FailingStreak >= opts.retries ? 'unhealthy' : state.Status, FailingStreak, Log };
}

/** What `ps` adds to "Up 3 seconds": docker's words. */
export function healthSuffix(h: HealthState | undefined): string {
  if (!h) return '';
  return h.Status === 'starting' ? ' (health: starting)' : ` (${h.Status})`;
}
