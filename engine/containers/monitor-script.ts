// Where the monitor of a detached container (monitor.ts, run as its own `node` process) is. Kept
// apart from monitor.ts, which runs the container when started as a script: the CLI only needs
// the path, and its bundle (scripts/bundle.mjs) takes no module that awaits at its top level.
export const MONITOR_SCRIPT = new URL('./monitor.js', import.meta.url).pathname;
