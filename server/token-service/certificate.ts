// The token service's certificate: registries that trust a certificate bundle rather than a JWKS
// (the CNCF registry 2.8's `auth.token.rootcertbundle`) verify the `x5c` header of a token against
// it, or look the token's `kid` up among the bundle certificates' keys. A PEM file of the signing
// key's certificate (leaf first, then any intermediates); when missing, a self-signed certificate
// for the key is generated there on first start. Node can parse certificates but not make them,
// so the one fixed shape needed (ECDSA P-256 with SHA-256) is encoded here in DER by hand.
import { createPublicKey, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeDurably } from './signing-key.js';

const VALIDITY_DAYS = 3650;

function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const n = body.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

const seq = (...c: Buffer[]) => der(0x30, ...c);
const oid = (hex: string) => der(0x06, Buffer.from(hex, 'hex'));
const OID_ECDSA_SHA256 = oid('2a8648ce3d040302'); // 1.2.840.10045.4.3.2
const OID_CN = oid('550403'); // 2.5.4.3
const OID_BASIC_CONSTRAINTS = oid('551d13'); // 2.5.29.19
const OID_KEY_USAGE = oid('551d0f'); // 2.5.29.15
const TRUE = der(0x01, Buffer.from([0xff]));

/** UTCTime until 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5). */
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z'; // YYYYMMDDHHMMSSZ
  return d.getUTCFullYear() < 2050 ? der(0x17, Buffer.from(iso.slice(2))) : der(0x18, Buffer.from(iso));
}

/** A self-signed X.509 v3 certificate (PEM) for an EC P-256 key: CN = `commonName`, CA:FALSE, digitalSignature. */
export function selfSignedCertificate(privateKey: KeyObject, commonName: string, now = new Date()): string {
  const publicKey = createPublicKey(privateKey);
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40; // positive, no leading zero byte
  const name = seq(der(0x31, seq(OID_CN, der(0x0c, Buffer.from(commonName, 'utf8')))));
  const algorithm = seq(OID_ECDSA_SHA256);
  const extensions = der(
    0xa3,
    seq(
      seq(OID_BASIC_CONSTRAINTS, TRUE, der(0x04, seq())),
      seq(OID_KEY_USAGE, TRUE, der(0x04, der(0x03, Buffer.from([0x07, 0x80])))),
    ),
  );
  const tbs = seq(
    der(0xa0, der(0x02, Buffer.from([2]))), // v3
    der(0x02, serial),
    algorithm,
    name,
    seq(time(new Date(now.getTime() - 5 * 60_000)), time(new Date(now.getTime() + VALIDITY_DAYS * 86_400_000))),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    extensions,
  );
  const signature = sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' });
  const cert = seq(tbs, algorithm, der(0x03, Buffer.from([0]), signature));
  const b64 = cert.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

export interface TokenCertificate {
  chain: X509Certificate[];
  /** The chain as a JWS `x5c` header: standard base64 DER, leaf first. */
  x5c: string[];
  created: boolean;
}

function samePublicKey(a: KeyObject, b: KeyObject): boolean {
  return a.export({ type: 'spki', format: 'der' }).equals(b.export({ type: 'spki', format: 'der' }));
}

/** Reads the certificate chain of the signing key at `path`, generating a self-signed one when the file is missing. */
export async function loadOrCreateCertificate(path: string, privateKey: KeyObject, commonName: string): Promise<TokenCertificate> {
  let text: string;
  let created = false;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`token service certificate ${path}: ${(err as Error).message}`);
    text = selfSignedCertificate(privateKey, commonName);
    await mkdir(dirname(path), { recursive: true });
    await writeDurably(path, text, 0o644);
    created = true;
  }
  let chain: X509Certificate[];
  try {
    chain = (text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((b) => new X509Certificate(b));
  } catch (err) {
    throw new Error(`token service certificate ${path}: ${(err as Error).message}`);
  }
  if (chain.length === 0) throw new Error(`token service certificate ${path}: no PEM certificate`);
  if (!samePublicKey(chain[0]!.publicKey, createPublicKey(privateKey))) {
    throw new Error(`token service certificate ${path}: the first certificate is not for the signing key (auth.tokenService.keyFile); remove the file to have a self-signed one made`);
  }
  const now = Date.now();
  if (Date.parse(chain[0]!.validTo) < now) throw new Error(`token service certificate ${path}: expired on ${chain[0]!.validTo}`);
  return { chain, x5c: chain.map((c) => c.raw.toString('base64')), created };
}
