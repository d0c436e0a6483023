// Presigned S3 URLs (SigV4, query-string authentication) made without the AWS SDK's middleware
// stack. The SDK's presigner resolves the endpoint and runs its whole middleware chain for every
// URL: about 0.9 ms of CPU each, on every streamed blob GET and every redirect, where the signing
// itself is a few HMACs. What the SDK knows better than this module (the bucket's endpoint,
// path or virtual-host style, the signing region, where credentials come from and when they
// expire) is still taken from it: the base URL and the credential scope from one URL it signs,
// the credentials from its own memoised provider before each URL. Only the signing is done here,
// with the key derived once per day, region and secret.
import { createHash, createHmac } from 'node:crypto';

export interface PresignCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** Where a bucket's objects are and how they are signed for: what one SDK-signed URL shows. */
export interface PresignTarget {
  /** e.g. `http://127.0.0.1:7480/bucket/` or `https://bucket.s3.eu-west-1.amazonaws.com/`: the key follows. */
  base: string;
  region: string;
  /** `s3` */
  service: string;
}

/** The target of an SDK-presigned URL of `key` (that URL's path must end with the key, encoded). */
export function presignTargetOf(sdkUrl: string, key: string): PresignTarget {
  const u = new URL(sdkUrl);
  const encoded = encodeKey(key);
  if (!u.pathname.endsWith(encoded)) throw new Error(`s3 presign: the signed URL's path ${u.pathname} does not end with ${encoded}`);
  const scope = /^[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request$/.exec(u.searchParams.get('X-Amz-Credential') ?? '');
  if (!scope) throw new Error('s3 presign: the signed URL has no SigV4 credential scope');
  return { base: `${u.origin}${u.pathname.slice(0, u.pathname.length - encoded.length)}`, region: scope[1]!, service: scope[2]! };
}

/** RFC 3986 encoding of an S3 key as SigV4 wants it: every byte but the unreserved ones and `/`. */
export function encodeKey(key: string): string {
  return encodeURIComponent(key)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%2F/g, '/');
}

function encodeParam(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

export class Presigner {
  /** The signing key of the last day, region and secret used (derived once a day). */
  private cached: { id: string; key: Buffer } | undefined;

  constructor(private readonly target: PresignTarget) {}

  /** A URL for `method` on `key`, valid `expiresIn` seconds from `now`. */
  sign(method: 'GET' | 'HEAD', key: string, expiresIn: number, creds: PresignCredentials, now = new Date()): string {
    const { base, region, service } = this.target;
    const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, ''); // 20130524T000000Z
    const day = amzDate.slice(0, 8);
    const scope = `${day}/${region}/${service}/aws4_request`;
    const params: [string, string][] = [
      ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
      ['X-Amz-Credential', `${creds.accessKeyId}/${scope}`],
      ['X-Amz-Date', amzDate],
      ['X-Amz-Expires', String(expiresIn)],
      ...(creds.sessionToken ? ([['X-Amz-Security-Token', creds.sessionToken]] as [string, string][]) : []),
      ['X-Amz-SignedHeaders', 'host'],
    ];
    // (Already in code-point order, which is the canonical order: Algorithm < Credential < Date < Expires < Security-Token < SignedHeaders.)
    const query = params.map(([k, v]) => `${encodeParam(k)}=${encodeParam(v)}`).join('&');
    const url = new URL(`${base}${encodeKey(key)}`);
    const canonical = `${method}\n${url.pathname}\n${query}\nhost:${url.host}\n\nhost\nUNSIGNED-PAYLOAD`;
    const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${createHash('sha256').update(canonical, 'utf8').digest('hex')}`;
    const signature = createHmac('sha256', this.signingKey(creds.secretAccessKey, day)).update(toSign, 'utf8').digest('hex');
    return `${url.origin}${url.pathname}?${query}&X-Amz-Signature=${signature}`;
  }

  private signingKey(secret: string, day: string): Buffer {
    const { region, service } = this.target;
    const id = `${day}\n${secret}`;
    if (this.cached?.id === id) return this.cached.key;
    const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), service), 'aws4_request');
    this.cached = { id, key };
    return key;
  }
}
