// Running SHA-256 digests of uploads. Node's native hash is fastest but its state cannot be
// saved; hash-wasm's can (116 bytes), at about a fifth of the speed. Registries whose uploads
// move between processes (replicas on S3 behind a load balancer) save the state with the upload
// so the next replica continues it instead of re-reading everything stored so far.
import { createHash, type Hash } from 'node:crypto';
import type { IHasher } from 'hash-wasm';

export interface RunningDigest {
  update(chunk: Uint8Array): void;
  /** Hex digest of everything so far; the computation can go on afterwards. */
  peekHex(): string;
  /** The state to continue from later, or undefined when this kind cannot be saved. */
  save(): Uint8Array | undefined;
}

export interface DigestKind {
  readonly resumable: boolean;
  create(): Promise<RunningDigest>;
  /** Continues from a saved state (resumable kinds only). */
  restore(state: Uint8Array): Promise<RunningDigest>;
}

class NativeDigest implements RunningDigest {
  private readonly hash: Hash = createHash('sha256');
  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
  }
  peekHex(): string {
    return this.hash.copy().digest('hex');
  }
  save(): undefined {
    return undefined;
  }
}

class WasmDigest implements RunningDigest {
  constructor(private readonly hasher: IHasher) {}
  update(chunk: Uint8Array): void {
    this.hasher.update(chunk);
  }
  peekHex(): string {
    const state = this.hasher.save();
    const hex = this.hasher.digest('hex');
    this.hasher.load(state);
    return hex;
  }
  save(): Uint8Array {
    return this.hasher.save();
  }
}

export const nativeSha256: DigestKind = {
  resumable: false,
  create: async () => new NativeDigest(),
  restore: () => Promise.reject(new Error('native digests cannot be restored')),
};

// Loaded on first use: its module holds every algorithm's WebAssembly as text (280 KB of source
// kept in the heap) and compiling it touches V8's WebAssembly compiler, ~2 MiB of RSS in each
// process whose storage never saves a digest state (filesystem storage by default).
const createSHA256 = async () => (await import('hash-wasm')).createSHA256();

export const resumableSha256: DigestKind = {
  resumable: true,
  async create() {
    const h = await createSHA256();
    h.init();
    return new WasmDigest(h);
  },
  async restore(state: Uint8Array) {
    const h = await createSHA256();
    h.load(state);
    return new WasmDigest(h);
  },
};
