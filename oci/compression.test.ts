import { describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { sniffCompression } from './compression.js';

describe('sniffCompression', () => {
  it('recognises gzip, zstd, xz and bzip2 by their magic numbers', () => {
    expect(sniffCompression(gzipSync('layer'))).toBe('gzip');
    expect(sniffCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00]))).toBe('zstd');
    expect(sniffCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00]))).toBe('xz');
    expect(sniffCompression(Buffer.from('BZh91AY'))).toBe('bzip2');
  });

  it('says nothing for a plain tar, a short head or an empty blob', () => {
    const tarHead = Buffer.alloc(512);
    tarHead.write('etc/passwd');
    expect(sniffCompression(tarHead)).toBeUndefined();
    expect(sniffCompression(Buffer.from([0x1f]))).toBeUndefined();
    expect(sniffCompression(Buffer.alloc(0))).toBeUndefined();
  });
});
