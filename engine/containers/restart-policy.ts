// --restart no|on-failure[:N]|always|unless-stopped, and docker's backoff between restarts
// (moby restartmanager: 100 ms, doubled each time, at most a minute; back to 100 ms after a run
// of 10 s or more).
import { UsageError } from './run-options.js';

export interface RestartPolicy {
  name: 'no' | 'on-failure' | 'always' | 'unless-stopped';
  /** on-failure's limit of restarts (0: none). */
  maxRetries?: number;
}

export function parseRestartPolicy(text: string): RestartPolicy {
  const m = /^(no|always|unless-stopped|on-failure)(?::([0-9]+))?$/.exec(text);
  if (!m || (m[2] !== undefined && m[1] !== 'on-failure')) throw new UsageError(`invalid --restart ${JSON.stringify(text)}: no, on-failure[:max-retries], always or unless-stopped`);
  return { name: m[1] as RestartPolicy['name'], ...(m[2] !== undefined ? { maxRetries: Number(m[2]) } : {}) };
}

/** Whether the monitor starts the container again after it exited with `status`. */
export function shouldRestart(policy: RestartPolicy, status: number, restarts: number, manuallyStopped: boolean): boolean {
  if (manuallyStopped) return false;
  switch (policy.name) {
    case 'always':
    case 'unless-stopped':
      return true;
    case 'on-failure':
      return status !== 0 && (!policy.maxRetries || restarts < policy.maxRetries);
    default:
      return false;
  }
}

const FIRST = 100;
const MAX = 60_000;

/** The wait before the next start, from the previous wait and how long the last run lasted. */
export function nextRestartDelay(previous: number, ranMs: number): number {
  if (ranMs >= 10_000 || previous === 0) return FIRST;
  return Math.min(previous * 2, MAX);
}
