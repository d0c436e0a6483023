// The token service's signing key: an EC P-256 key (ES256) in a PKCS#8 PEM file, generated on
// first start and written atomically with mode 0600 (temp file, fsync, rename, fsync directory).
// Its `kid` is the RFC 7638 thumbprint, or the libtrust key id that docker/distribution's token
// servers use (what the CNCF registry 2.8 looks a `kid` up by).
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { exportJWK, type JWK } from 'jose';
import { writeFileAtomic } from '../../util/atomic-file.js';
import { jwkThumbprint, libtrustKeyId } from '../auth/key-ids.js';

export type KeyIdFormat = 'jwk-thumbprint' | 'libtrust';

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** RFC 7638 thumbprint or libtrust key id of the public key. */
  kid: string;
  publicJwk: JWK;
  /** The certificate chain for `x5c` headers, when the token service has a certificate. */
  x5c?: string[];
  created: boolean;
}

/** Writes a key or certificate file atomically and durably (mode 0600 unless given). */
export function writeDurably(path: string, data: string, mode = 0o600): Promise<void> {
  return writeFileAtomic(path, data, { mode });
}

export async function loadOrCreateSigningKey(path: string, keyIdFormat: KeyIdFormat = 'jwk-thumbprint'): Promise<SigningKey> {
  let privateKey: KeyObject;
  let created = false;
  try {
    privateKey = createPrivateKey(await readFile(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`token signing key ${path}: ${(err as Error).message}`);
    mkdirSync(dirname(path), { recursive: true });
    privateKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    await writeDurably(path, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    created = true;
  }
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error(`token signing key ${path}: must be an EC P-256 key (ES256)`);
  }
  const publicKey = createPublicKey(privateKey);
  const kid = keyIdFormat === 'libtrust' ? libtrustKeyId(publicKey) : await jwkThumbprint(publicKey);
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  return { privateKey, publicKey, kid, publicJwk, created };
}
