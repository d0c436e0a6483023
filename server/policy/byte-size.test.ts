import { describe, expect, it } from 'vitest';
import { formatByteSize, parseByteSize } from './byte-size.js';

describe('configuration sizes', () => {
  it.each([
    ['2048', 2048],
    ['500MB', 500e6],
    ['10GiB', 10 * 1024 ** 3],
    ['1.5 TB', 1.5e12],
    ['64ki', 65536],
    ['3 b', 3],
    ['1gi', 1024 ** 3],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });

  it.each(['', 'ten', '10 XB', '-5MB', '1e3', '10 GiB extra', '99999999999 TiB'])('%s is not a size', (text) => {
    expect(parseByteSize(text)).toBeUndefined();
  });

  it('formats sizes for messages', () => {
    expect(formatByteSize(512)).toBe('512 B');
    expect(formatByteSize(1536)).toBe('1.5 KiB');
    expect(formatByteSize(10 * 1024 ** 3)).toBe('10.0 GiB');
  });
});
