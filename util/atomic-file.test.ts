import { mkdtemp, readdir, readFile, rm, stat, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TEMP_MARK, writeFileAtomic } from './atomic-file.js';

describe('writeFileAtomic', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'atomic-file-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('replaces the content and leaves no temporary file', async () => {
    const path = join(dir, 'state.json');
    await writeFileAtomic(path, 'old');
    await writeFileAtomic(path, 'new');
    expect(await readFile(path, 'utf8')).toBe('new');
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('gives the file the mode asked for', async () => {
    const path = join(dir, 'key.pem');
    await writeFileAtomic(path, 'secret', { mode: 0o600 });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('names the temporary apart from a target whose name is at the length limit', async () => {
    const path = join(dir, 'x'.repeat(255));
    await writeFileAtomic(path, 'long', { tempName: 'apart' });
    expect(await readFile(path, 'utf8')).toBe('long');
    await expect(writeFileAtomic(path, 'again')).rejects.toThrow(/ENAMETOOLONG/);
    expect((await readdir(dir)).filter((n) => n.includes(TEMP_MARK))).toEqual([]);
  });

  it('leaves neither a temporary nor a changed target when the rename fails', async () => {
    const path = join(dir, 'target');
    await mkdir(path); // a directory cannot be replaced by a file
    await expect(writeFileAtomic(path, 'data')).rejects.toThrow();
    expect(await readdir(dir)).toEqual(['target']);
    expect((await stat(path)).isDirectory()).toBe(true);
  });
});
