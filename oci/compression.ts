// Which compression a blob uses, from its first bytes (the magic numbers), for layers whose media
// type is missing or wrong about it. Dependency-free: the engine's unpacker loads it directly.

export type CompressionName = 'gzip' | 'zstd' | 'xz' | 'bzip2';

const MAGIC: readonly [CompressionName, Uint8Array][] = [
  ['gzip', Uint8Array.of(0x1f, 0x8b)],
  ['zstd', Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd)],
  ['xz', Uint8Array.of(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)],
  ['bzip2', Uint8Array.of(0x42, 0x5a, 0x68)], // "BZh"
];

/** How many leading bytes sniffCompression needs to see. */
export const COMPRESSION_SNIFF_BYTES = 6;

/** The compression whose magic number `head` starts with; undefined for anything else (a plain tar). */
export function sniffCompression(head: Uint8Array): CompressionName | undefined {
  for (const [name, magic] of MAGIC) {
    if (head.length >= magic.length && magic.every((b, i) => head[i] === b)) return name;
  }
  return undefined;
}
