import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { describe, expect, it } from 'vitest';
import { encodeKey, Presigner, presignTargetOf } from './s3-presign.js';

const creds = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };

describe('Presigner', () => {
  it("signs AWS's documented example of a presigned GET (S3 API reference, query-string authentication)", () => {
    const p = new Presigner({ base: 'https://examplebucket.s3.amazonaws.com/', region: 'us-east-1', service: 's3' });
    expect(p.sign('GET', 'test.txt', 86400, creds, new Date('2013-05-24T00:00:00Z'))).toBe(
      'https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256' +
        '&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z' +
        '&X-Amz-Expires=86400&X-Amz-SignedHeaders=host' +
        '&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404',
    );
  });

  it('signs for the same path, scope and credentials as the SDK, session token included', async () => {
    // (The SDK's URL carries parameters of its own, x-id and x-amz-checksum-mode, so its
    // signature differs; that a store accepts ours is checked against Ceph RGW in s3-driver.test.ts.)
    const client = new S3Client({
      region: 'eu-central-1',
      endpoint: 'http://127.0.0.1:7480',
      forcePathStyle: true,
      credentials: { ...creds, sessionToken: 'token/with+odd=chars' },
    });
    const key = 'root/docker/registry/v2/blobs/sha256/ab/ab12/data!0000000000000005';
    const when = new Date('2026-12-03T23:40:00Z');
    const sdk = await getSignedUrl(client, new GetObjectCommand({ Bucket: 'bucket', Key: key }), { expiresIn: 900, signingDate: when });
    const target = presignTargetOf(sdk, key);
    expect(target).toEqual({ base: 'http://127.0.0.1:7480/bucket/', region: 'eu-central-1', service: 's3' });
    const ours = new URL(new Presigner(target).sign('GET', key, 900, { ...creds, sessionToken: 'token/with+odd=chars' }, when));
    const theirs = new URL(sdk);
    expect(ours.pathname).toBe(theirs.pathname);
    for (const p of ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-Security-Token', 'X-Amz-SignedHeaders']) {
      expect(ours.searchParams.get(p), p).toBe(theirs.searchParams.get(p));
    }
    client.destroy();
  });

  it('encodes keys as SigV4 does: unreserved characters and slashes as they are', () => {
    expect(encodeKey("a b/c!d'e(f)g*h~i_j.k-l+m=n:o")).toBe('a%20b/c%21d%27e%28f%29g%2Ah~i_j.k-l%2Bm%3Dn%3Ao');
  });

  it('takes virtual-host style targets from the URL the SDK signed', () => {
    expect(
      presignTargetOf('https://b.s3.eu-west-1.amazonaws.com/p/k%21x?X-Amz-Credential=A%2F20261203%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Signature=0', 'p/k!x'),
    ).toEqual({ base: 'https://b.s3.eu-west-1.amazonaws.com/', region: 'eu-west-1', service: 's3' });
    expect(() => presignTargetOf('https://b.example/other?X-Amz-Credential=A%2F20261203%2Fr%2Fs3%2Faws4_request', 'p/k')).toThrow(/does not end/);
  });
});
