import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { workerCount } from './workers.js';

describe('workerCount', () => {
  it('is one per core by default, on the filesystem and on S3', () => {
    expect(workerCount(loadConfig(), 16)).toBe(16);
    const s3 = loadConfig({ overrides: { storage: { driver: 's3', s3: { bucket: 'b' } } } });
    expect(workerCount(s3, 4)).toBe(4);
  });

  it('takes http.workers as it is when set (1: a single process)', () => {
    expect(workerCount(loadConfig({ overrides: { http: { workers: 1 } } }), 16)).toBe(1);
    expect(workerCount(loadConfig({ env: { STEVEDORE_HTTP_WORKERS: '3' } }), 2)).toBe(3);
  });

  it('refuses a negative count', () => {
    expect(() => loadConfig({ env: { STEVEDORE_HTTP_WORKERS: '-1' } })).toThrow(/STEVEDORE_HTTP_WORKERS/);
  });
});
