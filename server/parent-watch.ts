// `npm start` (scripts/start.sh) runs the server under `sh -c`, and npm's SIGTERM ends that shell,
// not the server: with STEVEDORE_STOP_WITH_PARENT=1 the server stops as on SIGTERM when the
// process that started it goes away (its parent pid changes). Polled: Linux has no portable
// notification for a parent's exit that survives the re-parenting.

/** Calls `stop` once when this process's parent has exited, if STEVEDORE_STOP_WITH_PARENT=1. */
export function stopWithParent(stop: () => void): void {
  if (process.env.STEVEDORE_STOP_WITH_PARENT !== '1') return;
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(watch);
    stop();
  }, 500);
  watch.unref();
}
