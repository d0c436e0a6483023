// Content digests (image-spec descriptor.md "Digests"): `algorithm:encoded`.
// node:crypto is loaded on the first hash, not with this module: loading it takes 10-40 ms, and
// commands that only parse references and digests (`tags`, `ps`) never hash anything. A few
// kilobytes hashed whole before that (`run` checking the image config it reads from the store)
// are hashed in JavaScript instead (oci/sha256.ts), which spares a warm `run` loading it at all.
import type { Hash } from 'node:crypto';
import { KindedError } from '../util/errors.js';
import { sha256Hex } from './sha256.js';

export type Digest = string & { readonly __brand: 'Digest' };

export interface DigestAlgorithm {
  name: string;
  /** Name of the algorithm for node:crypto. */
  nodeName: string;
  hexLength: number;
}

export const ALGORITHMS: Record<string, DigestAlgorithm> = {
  sha256: { name: 'sha256', nodeName: 'sha256', hexLength: 64 },
  sha512: { name: 'sha512', nodeName: 'sha512', hexLength: 128 },
};

export const DEFAULT_ALGORITHM = 'sha256';

// The grammar from the spec; algorithm-specific checks follow in parseDigest.
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export class InvalidDigestError extends KindedError {
  constructor(
    readonly input: string,
    reason: string,
  ) {
    super('invalid', `invalid digest ${JSON.stringify(input.length > 200 ? input.slice(0, 200) + '…' : input)}: ${reason}`);
    this.name = 'InvalidDigestError';
  }
}

export interface ParsedDigest {
  digest: Digest;
  algorithm: DigestAlgorithm;
  hex: string;
}

/** Parses and validates a digest; throws InvalidDigestError. Only registered algorithms are accepted. */
export function parseDigest(input: string): ParsedDigest {
  if (input.length > 256 || !DIGEST_GRAMMAR.test(input)) throw new InvalidDigestError(input, 'does not match the digest grammar');
  const colon = input.indexOf(':');
  const algName = input.slice(0, colon);
  const hex = input.slice(colon + 1);
  const algorithm = ALGORITHMS[algName];
  if (!algorithm) throw new InvalidDigestError(input, `unsupported algorithm ${algName}`);
  if (hex.length !== algorithm.hexLength || !/^[a-f0-9]+$/.test(hex)) {
    throw new InvalidDigestError(input, `${algName} needs ${algorithm.hexLength} lowercase hex characters`);
  }
  return { digest: input as Digest, algorithm, hex };
}

export function isDigest(input: string): input is Digest {
  try {
    parseDigest(input);
    return true;
  } catch {
    return false;
  }
}

export function asDigest(input: string): Digest {
  return parseDigest(input).digest;
}

/** node:crypto, once a hash has loaded it: from then on every hash is native. */
let nodeCrypto: typeof import('node:crypto') | undefined;

/**
 * Whole inputs up to this size are hashed in JavaScript while node:crypto is not loaded: ~20 µs
 * for 2 KB against 6–10 ms for loading it; the bound keeps the JavaScript path well under a
 * millisecond even before V8 optimises it.
 */
const JS_HASH_LIMIT = 16 * 1024;

export function newHash(algorithm: string = DEFAULT_ALGORITHM): Hash {
  const alg = ALGORITHMS[algorithm];
  if (!alg) throw new InvalidDigestError(`${algorithm}:`, `unsupported algorithm ${algorithm}`);
  nodeCrypto ??= process.getBuiltinModule('node:crypto');
  return nodeCrypto.createHash(alg.nodeName);
}

export function digestOf(data: Uint8Array | string, algorithm: string = DEFAULT_ALGORITHM): Digest {
  if (!nodeCrypto && algorithm === 'sha256' && typeof data !== 'string' && data.length <= JS_HASH_LIMIT) return `sha256:${sha256Hex(data)}` as Digest;
  return `${algorithm}:${newHash(algorithm).update(data).digest('hex')}` as Digest;
}

/** Incremental digester for streamed content. */
export class Digester {
  private readonly hash: Hash;
  private bytes = 0;
  constructor(readonly algorithm: string = DEFAULT_ALGORITHM) {
    this.hash = newHash(algorithm);
  }
  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
  }
  get size(): number {
    return this.bytes;
  }
  digest(): Digest {
    return `${this.algorithm}:${this.hash.digest('hex')}` as Digest;
  }
}
