import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selfSignedCertificate } from '../token-service/certificate.js';
import { AuthConfigSchema } from './auth-config.js';
import { jwkThumbprint } from './key-ids.js';
import { TokenError, TokenVerifier } from './token-verifier.js';

let dir: string;
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const cert = new X509Certificate(selfSignedCertificate(privateKey, 'issuer'));
const x5c = [cert.raw.toString('base64')];

async function sign(header: Record<string, unknown>, key = privateKey): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ access: [] }).setProtectedHeader({ alg: 'ES256', ...header }).setAudience('svc').setIssuer('iss').setExpirationTime(now + 60).sign(key);
}

const tokenConfig = (t: Record<string, unknown>) => AuthConfigSchema.parse({ token: { service: 'svc', ...t } }).token;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stevedore-verifier-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('TokenVerifier and x5c', () => {
  it('without trusted certificates, looks the key up by kid and ignores x5c (JWKS-configured registries)', async () => {
    const jwksFile = join(dir, 'jwks.json');
    const kid = await jwkThumbprint(publicKey);
    await writeFile(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid }] }));
    const v = await TokenVerifier.create(tokenConfig({ jwksFile }));
    await expect(v.verify(await sign({ kid, x5c }))).resolves.toMatchObject({ access: [] });
    // x5c cannot smuggle in an untrusted key: the kid decides.
    const rogue = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const rogueX5c = [new X509Certificate(selfSignedCertificate(rogue, 'rogue')).raw.toString('base64')];
    await expect(v.verify(await sign({ kid, x5c: rogueX5c }, rogue))).rejects.toThrow(TokenError);
  });

  it('anchors x5c at extra roots (the built-in service certificate) and refuses other chains', async () => {
    const v = await TokenVerifier.create(tokenConfig({ jwksFile: '' }), [], [cert]);
    await expect(v.verify(await sign({ x5c }))).resolves.toBeTruthy();
    const rogue = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const rogueX5c = [new X509Certificate(selfSignedCertificate(rogue, 'issuer')).raw.toString('base64')];
    await expect(v.verify(await sign({ x5c: rogueX5c }, rogue))).rejects.toThrow(/does not lead to a trusted certificate/);
  });
});
