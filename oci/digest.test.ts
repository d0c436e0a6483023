import { describe, expect, it } from 'vitest';
import { Digester, digestOf, InvalidDigestError, isDigest, parseDigest } from './digest.js';

describe('digests', () => {
  it('computes sha256 and sha512 digests of content', () => {
    expect(digestOf('hello')).toBe('sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
    expect(digestOf('hello', 'sha512')).toMatch(/^sha512:9b71d224bd62f378/);
  });

  it('digests streamed chunks the same as the whole', () => {
    const d = new Digester();
    d.update(Buffer.from('hel'));
    d.update(Buffer.from('lo'));
    expect(d.digest()).toBe(digestOf('hello'));
    expect(d.size).toBe(5);
  });

  it('accepts well-formed sha256 and sha512 digests', () => {
    expect(parseDigest(digestOf('x')).algorithm.name).toBe('sha256');
    expect(parseDigest(digestOf('x', 'sha512')).hex).toHaveLength(128);
  });

  it.each([
    ['', 'empty'],
    ['sha256', 'no colon'],
    ['sha256:', 'empty hex'],
    ['sha256:abc', 'too short'],
    [`sha256:${'A'.repeat(64)}`, 'upper-case hex'],
    [`sha256:${'g'.repeat(64)}`, 'non-hex'],
    [`sha512:${'a'.repeat(64)}`, 'sha512 with sha256 length'],
    [`md5:${'a'.repeat(32)}`, 'unknown algorithm'],
    [`SHA256:${'a'.repeat(64)}`, 'upper-case algorithm'],
    [`sha256:../${'a'.repeat(61)}`, 'path characters'],
  ])('rejects %j (%s)', (input) => {
    expect(() => parseDigest(input)).toThrow(InvalidDigestError);
    expect(isDigest(input)).toBe(false);
  });
});
