// The messages between `serve`'s primary process and its workers (node:cluster's IPC channel).
// Every message carries `stevedore: 1` so that node:cluster's own messages are told apart.
//
// A request carries `id` and is answered by a message with `reply: id` and `result` or `error`.
// Requests from a worker to the primary (the cross-worker state: server/cluster/primary.ts):
//   lock {key, wait}          the key is granted to this worker (FIFO); wait=false: false when taken
//   unlock {key}              (no answer)
//   rate {kind, client, user} a rate-limit decision against the one set of buckets
//   login-check {user, client}, login-failed {user, client, password}, login-ok {user}
//   metrics                   every worker's metrics as prom-client JSON, for one aggregated answer
//   broadcast {topic, data, sticky?}  (no answer) delivered to every other worker (sticky: and
//                             to every worker that starts later, the last one of the topic)
//   ready {url, metricsUrl}   (no answer) this worker serves
// Requests from the primary to a worker: metrics-collect. Notifications (no answer):
//   config {config}           the validated configuration to start with (server/cluster/worker-main.ts)
//   reload {config}           the configuration read again on SIGHUP: apply what can change

export interface ClusterMessage {
  stevedore: 1;
  op?: string;
  id?: number;
  reply?: number;
  result?: unknown;
  error?: string;
  [key: string]: unknown;
}

export function isClusterMessage(m: unknown): m is ClusterMessage {
  return typeof m === 'object' && m !== null && (m as { stevedore?: unknown }).stevedore === 1;
}

/** The environment variable that tells a forked worker its slot and the number of workers: `SLOT/COUNT`. */
export const WORKER_SLOT_VARIABLE = 'STEVEDORE_WORKER_SLOT';
