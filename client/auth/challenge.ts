// WWW-Authenticate challenges (RFC 7235) as registries send them:
// `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"`.

export interface Challenge {
  scheme: string; // lower case: 'basic' | 'bearer' | …
  params: Record<string, string>;
}

/** Parses one or more challenges from a WWW-Authenticate header value. */
export function parseChallenges(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skipWs = () => {
    while (i < n && /[\s,]/.test(header[i]!)) i++;
  };
  while (i < n) {
    skipWs();
    const schemeMatch = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+/.exec(header.slice(i));
    if (!schemeMatch) break;
    const challenge: Challenge = { scheme: schemeMatch[0].toLowerCase(), params: {} };
    i += schemeMatch[0].length;
    out.push(challenge);
    // auth-params: key=value or key="quoted, value", separated by commas.
    for (;;) {
      const save = i;
      skipWs();
      const key = /^([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*/.exec(header.slice(i));
      if (!key) {
        i = save;
        break;
      }
      i += key[0].length;
      let value = '';
      if (header[i] === '"') {
        i++;
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++;
      } else {
        const tok = /^[^,\s]*/.exec(header.slice(i))![0];
        value = tok;
        i += tok.length;
      }
      challenge.params[key[1]!.toLowerCase()] = value;
    }
  }
  return out;
}
