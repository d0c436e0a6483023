// Waiting out back-pressure on a stream being written (a response, a request body): one helper for
// the server's blob GETs, the mirror and the client's uploads. Dependency-free so any part may import it.

/** Resolves when a writer that refused a write can take more, or has closed (the peer went away, the request failed). */
export function drained(out: { on(event: string, fn: () => void): unknown; off(event: string, fn: () => void): unknown }): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      out.off('drain', done);
      out.off('close', done);
      resolve();
    };
    out.on('drain', done);
    out.on('close', done);
  });
}
