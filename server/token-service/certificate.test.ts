import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateCertificate, selfSignedCertificate } from './certificate.js';

let dir: string;
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stevedore-token-cert-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('token service certificate', () => {
  it('makes a self-signed certificate for the key that openssl verifies', async () => {
    const pem = selfSignedCertificate(privateKey, 'issuer "x"');
    const cert = new X509Certificate(pem);
    expect(cert.verify(publicKey)).toBe(true);
    expect(cert.publicKey.export({ type: 'spki', format: 'der' })).toEqual(publicKey.export({ type: 'spki', format: 'der' }));
    await writeFile(join(dir, 'c.pem'), pem);
    const text = execFileSync('openssl', ['x509', '-in', join(dir, 'c.pem'), '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toMatch(/Version: 3/);
    expect(text).toMatch(/CA:FALSE/);
    expect(execFileSync('openssl', ['verify', '-CAfile', join(dir, 'c.pem'), join(dir, 'c.pem')], { encoding: 'utf8' })).toMatch(/OK/);
    // Validity ending from 2050 on is a GeneralizedTime.
    const late = new X509Certificate(selfSignedCertificate(privateKey, 'x', new Date('2045-06-01T00:00:00Z')));
    expect(new Date(late.validTo).getUTCFullYear()).toBe(2055);
  });

  it('is generated on first start (mode 0644) and read back unchanged afterwards', async () => {
    const path = join(dir, 'new-dir', 'gen.crt');
    const first = await loadOrCreateCertificate(path, privateKey, 'stevedore-token-service');
    expect(first.created).toBe(true);
    expect((await stat(path)).mode & 0o777).toBe(0o644);
    const bytes = await readFile(path, 'utf8');
    const again = await loadOrCreateCertificate(path, privateKey, 'stevedore-token-service');
    expect(again.created).toBe(false);
    expect(again.x5c).toEqual(first.x5c);
    expect(await readFile(path, 'utf8')).toBe(bytes);
  });

  it('refuses a certificate for another key, and a file without certificates', async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    await writeFile(join(dir, 'other.crt'), selfSignedCertificate(other, 'x'));
    await expect(loadOrCreateCertificate(join(dir, 'other.crt'), privateKey, 'x')).rejects.toThrow(/not for the signing key/);
    await writeFile(join(dir, 'empty.crt'), 'nothing here\n');
    await expect(loadOrCreateCertificate(join(dir, 'empty.crt'), privateKey, 'x')).rejects.toThrow(/no PEM certificate/);
  });
});
