import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isStale } from './build-if-stale.mjs';

describe('isStale', () => {
  let root: string;
  const past = new Date(Date.now() - 60_000);
  const at = async (path: string, when: Date) => utimes(join(root, path), when, when);

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'build-if-stale-'));
    await writeFile(join(root, 'tsconfig.json'), '{}');
    await writeFile(join(root, 'tsconfig.build.json'), JSON.stringify({ include: ['src'] }));
    await mkdir(join(root, 'src'));
    await writeFile(join(root, 'src', 'a.ts'), 'export {};');
    await writeFile(join(root, 'src', 'a.test.ts'), 'export {};');
    await mkdir(join(root, 'dist', 'cli'), { recursive: true });
    await writeFile(join(root, 'dist', 'cli', 'main.js'), '');
    for (const f of ['tsconfig.json', 'tsconfig.build.json', 'src/a.ts', 'src/a.test.ts']) await at(f, past);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('is stale with no build stamp, fresh after one, stale again when a source changes', async () => {
    expect(isStale(root)).toBe(true);
    await writeFile(join(root, 'dist', '.build-stamp'), '');
    expect(isStale(root)).toBe(false);
    await at('src/a.ts', new Date(Date.now() + 1000));
    expect(isStale(root)).toBe(true);
  });

  it('ignores test files (not compiled) and counts the build configuration', async () => {
    await writeFile(join(root, 'dist', '.build-stamp'), '');
    await at('src/a.test.ts', new Date(Date.now() + 1000));
    expect(isStale(root)).toBe(false);
    await at('tsconfig.build.json', new Date(Date.now() + 1000));
    expect(isStale(root)).toBe(true);
  });

  it('is stale when the compiled CLI is missing', async () => {
    await writeFile(join(root, 'dist', '.build-stamp'), '');
    await rm(join(root, 'dist', 'cli', 'main.js'));
    expect(isStale(root)).toBe(true);
  });
});
