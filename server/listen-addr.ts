// HOST:PORT listen addresses (http.addr, metrics.addr). Apart from server/config.ts so that the
// processes that only listen (a cluster's workers) do not load the configuration's validators.

/** `HOST:PORT`, `:PORT` or `[IPv6]:PORT`; undefined when it is none of them. */
export function parseAddr(v: string): { host: string | undefined; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(v);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  const host = m[1] ?? (m[2] || undefined);
  return { host, port };
}
