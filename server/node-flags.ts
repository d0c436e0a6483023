// The V8 flags of the processes that serve the registry: each worker of a cluster (the primary
// forks them with WORKER_V8_FLAGS, server/cluster/primary.ts), and `serve` itself: the single
// process of `--workers 1` or a cluster's primary (cli/serve.ts starts itself again with
// SERVING_V8_FLAGS: V8 sizes its heap when the process starts, so they cannot be set from
// JavaScript once it runs). Flags an operator gives (NODE_OPTIONS or node's command line) win.
//
// A 1 MiB semi-space (Node 24 sizes the young generation up to 16 MiB per semi-space on this
// machine): a registry allocates mostly short-lived objects per request and per chunk, which a
// small young generation collects as well; measured on a 1 GiB blob push and pull, peak RSS
// 170-198 → 110-115 MiB and idle 98-100 → 85-86 MiB, throughput within the noise; CPU per
// manifest GET at par (docs/performance.md "Memory per worker"). `--expose-gc`: uploads pace
// young-generation collections by the body bytes received (server/body-garbage.ts), which keeps a
// 1 GiB push's peak RSS 7-8 MiB lower and spares V8 its full collections.
export const SERVING_V8_FLAGS = ['--max-semi-space-size=1', '--expose-gc'];

// Workers also run `--max-opt=2`: Maglev is the top tier, TurboFan never runs; its code in the
// node binary is never paged in and its compile zones never allocated: idle RSS 5-6 MiB lower per
// worker and the 1 GiB push's peak 78-80 → 72-73 MiB (issue #15's ≤ 80 MiB). The price is CPU on
// hot request paths in a steady state: 1.05-1.2× per manifest GET (docs/performance.md). Workers
// are one per core, so their memory counts N times; the single process keeps TurboFan.
export const WORKER_V8_FLAGS = [...SERVING_V8_FLAGS, '--max-opt=2'];

/** Those of `flags` this process was not started with: neither NODE_OPTIONS nor node's command line set them (to any value). */
export function missingFlags(flags: readonly string[]): string[] {
  const given = `${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`;
  return flags.filter((f) => !given.includes(f.split('=')[0]!));
}
