// What a failed connection to a registry means for the user: the low-level code (from Node's TLS
// and http clients) turned into a kind and one hint saying what to do. Pure, so every case is unit-tested.
import type { ErrorKind } from '../util/errors.js';

export interface NetworkFailure {
  /** The code that names the cause (`ECONNREFUSED`, `ERR_SSL_WRONG_VERSION_NUMBER`, …) or the message. */
  why: string;
  kind: ErrorKind;
  hint?: string;
}

/** TLS verification failures that mean "the server's certificate is signed by a CA we do not trust". */
const UNKNOWN_CA = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
]);

/** Codes of a connection the peer closed or garbled before answering in the protocol spoken. */
const CLOSED = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'HPE_INVALID_CONSTANT', 'HPE_INVALID_VERSION']);

/** OpenSSL reasons Node's http client reports only in an EPROTO error's message. */
const SSL_REASONS: [RegExp, string][] = [
  [/wrong version number/, 'ERR_SSL_WRONG_VERSION_NUMBER'],
  [/packet length too long/, 'ERR_SSL_PACKET_LENGTH_TOO_LONG'],
];

function codesOf(err: unknown): string[] {
  const out: string[] = [];
  for (let e = err as { code?: unknown; cause?: unknown; message?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string') out.push(e.code);
    if (e.code === 'EPROTO' && typeof e.message === 'string') {
      for (const [re, code] of SSL_REASONS) if (re.test(e.message)) out.push(code);
    }
  }
  return out;
}

/** Explains a request to `url` that failed before any HTTP answer. */
export function describeNetworkFailure(url: string, err: unknown): NetworkFailure {
  const codes = codesOf(err);
  const e = err as { message?: string; cause?: { message?: string } };
  const why = codes[codes.length - 1] ?? codes[0] ?? e?.cause?.message ?? e?.message ?? String(err);
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    /* not a URL: no host to name */
  }
  const tls = u?.protocol === 'https:';
  const host = u?.host ?? url;
  const hostPort = u ? `${u.hostname}:${u.port || (tls ? '443' : '80')}` : url;
  const has = (...c: string[]) => c.some((x) => codes.includes(x));
  if (has('ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG') || (tls && codes.some((c) => CLOSED.has(c)))) {
    return { why, kind: 'unavailable', hint: `the registry at ${host} speaks plain HTTP: use --insecure-registry ${host} or add it to insecure-registries` };
  }
  if (!tls && u && codes.some((c) => CLOSED.has(c))) {
    return { why, kind: 'unavailable', hint: `the registry at ${host} may speak HTTPS only: drop it from insecure-registries (and --plain-http)` };
  }
  const ca = codes.find((c) => UNKNOWN_CA.has(c));
  if (ca) {
    return {
      why,
      kind: 'unavailable',
      hint: `the registry's certificate is signed by an unknown authority: put its CA certificate in /etc/docker/certs.d/${host}/ca.crt (or a ${host}/ directory under one of STEVEDORE_CERTS_DIRS)`,
    };
  }
  if (has('ERR_TLS_CERT_ALTNAME_INVALID')) return { why, kind: 'unavailable', hint: `the registry's certificate is not valid for ${u?.hostname ?? host}` };
  if (has('CERT_HAS_EXPIRED')) return { why, kind: 'unavailable', hint: `the registry's certificate at ${host} has expired` };
  if (has('ECONNREFUSED')) return { why, kind: 'unavailable', hint: `the registry is not answering at ${hostPort}` };
  if (has('ENOTFOUND', 'EAI_AGAIN')) return { why, kind: 'unavailable', hint: `the host name ${u?.hostname ?? host} does not resolve` };
  if (has('ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'EHOSTUNREACH', 'ENETUNREACH')) {
    return { why, kind: 'unavailable', hint: `the registry at ${hostPort} did not answer in time` };
  }
  return { why, kind: 'unavailable' };
}
