import { describe, expect, it } from 'vitest';
import { PathNotFoundError, type StorageDriver } from '../storage/index.js';
import { ReadinessCheck } from './health.js';
import { createLogger } from './logger.js';

/** A driver that keeps objects in memory; `hang` makes every call wait forever, `fail` reject. */
function memoryDriver() {
  const objects = new Map<string, Buffer>();
  const state = { hang: false, fail: false, puts: 0 };
  const gate = async () => {
    if (state.hang) await new Promise(() => undefined);
    if (state.fail) throw new Error('EROFS: read-only file system');
  };
  const driver = {
    name: 'memory',
    async putContent(path: string, content: Uint8Array) {
      await gate();
      state.puts++;
      objects.set(path, Buffer.from(content));
    },
    async getContent(path: string) {
      await gate();
      const b = objects.get(path);
      if (!b) throw new PathNotFoundError(path, 'memory');
      return b;
    },
    async delete(path: string) {
      await gate();
      objects.delete(path);
    },
  } as unknown as StorageDriver;
  return { driver, objects, state };
}

const log = createLogger('silent');

describe('ReadinessCheck', () => {
  it('writes, reads back and deletes a probe object', async () => {
    const { driver, objects, state } = memoryDriver();
    const results: boolean[] = [];
    const r = new ReadinessCheck({ driver, instanceId: 'i1', timeoutMs: 1000, cacheMs: 0, log, onResult: (x) => results.push(x) });
    expect((await r.check()).ready).toBe(true);
    expect(state.puts).toBe(1);
    expect(objects.size).toBe(0);
    state.fail = true;
    const bad = await r.check();
    expect(bad).toMatchObject({ ready: false, error: 'EROFS: read-only file system' });
    expect(results).toEqual([true, false]);
  });

  it('fails a probe that takes longer than the timeout', async () => {
    const { driver, state } = memoryDriver();
    state.hang = true;
    const r = new ReadinessCheck({ driver, instanceId: 'i1', timeoutMs: 50, cacheMs: 0, log });
    expect(await r.check()).toMatchObject({ ready: false, error: 'storage did not answer within 50 ms' });
  });

  it('caches the result briefly and shares one probe between concurrent checks', async () => {
    const { driver, state } = memoryDriver();
    const r = new ReadinessCheck({ driver, instanceId: 'i1', timeoutMs: 1000, cacheMs: 60_000, log });
    const all = await Promise.all([r.check(), r.check(), r.check()]);
    expect(all.every((x) => x.ready)).toBe(true);
    await r.check();
    expect(state.puts).toBe(1);
  });
});
