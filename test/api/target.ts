// The registry under test for the endpoint-by-endpoint API suite (test/api/*.test.ts).
//
// Default: Stevedore in-process (server/index.ts `startServer`), on a fresh temp data dir.
// STEVEDORE_API_TARGET=cncf: Debian's docker-registry (CNCF distribution 2.8) instead, so the
// suite's expectations can be checked against a reference implementation. The few expectations
// that are Stevedore-only (features distribution 2.8 lacks, or where it departs from the spec)
// use `itStevedore`, which skips under the cncf target.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'vitest';
import { startCncfRegistry } from '../helpers/cncf-registry.js';

export type TargetKind = 'stevedore' | 'cncf';

export const TARGET: TargetKind = process.env.STEVEDORE_API_TARGET === 'cncf' ? 'cncf' : 'stevedore';
export const IS_CNCF = TARGET === 'cncf';

/** A test that only applies to Stevedore (skipped under STEVEDORE_API_TARGET=cncf). */
export const itStevedore = it.skipIf(IS_CNCF);

export interface TargetOptions {
  /** storage.delete.enabled; default true. */
  deleteEnabled?: boolean;
}

export interface Target {
  kind: TargetKind;
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:41234 */
  url: string;
  stop(): Promise<void>;
}

export async function startTarget(opts: TargetOptions = {}): Promise<Target> {
  const deleteEnabled = opts.deleteEnabled ?? true;
  if (IS_CNCF) {
    const reg = await startCncfRegistry({
      env: deleteEnabled ? {} : { REGISTRY_STORAGE_DELETE_ENABLED: 'false' },
    });
    return { kind: 'cncf', url: reg.url.replace(/\/+$/, ''), stop: () => reg.stop() };
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'stevedore-api-'));
  try {
    const { startServer } = await import('../../server/index.js');
    const srv = await startServer({ dataDir, addr: '127.0.0.1:0', logLevel: 'silent', deleteEnabled });
    let stopped: Promise<void> | undefined;
    return {
      kind: 'stevedore',
      url: srv.url.replace(/\/+$/, ''),
      stop() {
        stopped ??= (async () => {
          try {
            await srv.close();
          } finally {
            await rm(dataDir, { recursive: true, force: true });
          }
        })();
        return stopped;
      },
    };
  } catch (err) {
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}
