// Key identifiers: the RFC 7638 JWK thumbprint (what Stevedore's token service puts in `kid`) and
// the libtrust form the CNCF registry and docker/distribution's token servers use (SHA-256 of the
// DER public key, first 240 bits, base32 in 12 colon-separated groups of 4).
import { createHash, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK } from 'jose';

export async function jwkThumbprint(key: KeyObject): Promise<string> {
  return calculateJwkThumbprint(await exportJWK(key), 'sha256');
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function libtrustKeyId(key: KeyObject): string {
  const sum = createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest().subarray(0, 30);
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of sum) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out.match(/.{4}/g)!.join(':');
}
