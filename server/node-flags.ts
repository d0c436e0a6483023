// The V8 flags of a process that serves the registry: each worker of a cluster (the primary
// forks them with these, server/cluster/primary.ts) and the single process of `serve --workers 1`
// (cli/serve.ts starts itself again with them: V8 sizes its heap when the process starts, so
// they cannot be set from JavaScript once it runs).
//
// A 1 MiB semi-space (Node 24 sizes the young generation up to 16 MiB per semi-space on this
// machine): a registry allocates mostly short-lived objects per request and per chunk, which a
// small young generation collects as well; measured on a 1 GiB blob push and pull, peak RSS
// 170-198 → 110-115 MiB and idle 98-100 → 85-86 MiB, throughput within the noise
// (docs/performance.md). `--expose-gc`: uploads pace young-generation collections by the body
// bytes received (server/body-garbage.ts), which keeps a 1 GiB push's peak RSS 7-8 MiB lower and
// spares V8 its full collections. `--max-opt=2`: Maglev is the top tier, TurboFan never runs; its
// code in the node binary is never paged in and its compile zones never allocated: idle RSS
// 71-74 → 65-68 MiB, push peak 78-80 → 72-73 MiB, with push MB/s and CPU per request at par in
// interleaved runs (docs/performance.md "Memory per worker").
export const SERVING_V8_FLAGS = ['--max-semi-space-size=1', '--expose-gc', '--max-opt=2'];

/** The serving flags this process was not started with: neither NODE_OPTIONS nor node's command line set them (to any value). */
export function missingServingFlags(): string[] {
  const given = `${process.env.NODE_OPTIONS ?? ''} ${process.execArgv.join(' ')}`;
  return SERVING_V8_FLAGS.filter((f) => !given.includes(f.split('=')[0]!));
}
