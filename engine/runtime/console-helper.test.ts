// The terminal helper's build: once per engine root and source, atomically, and a missing compiler
// is an error with a kind and a hint (never a stack trace from execFile).
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kindOf } from '../../util/errors.js';
import { consoleHelper } from './console-helper.js';

let root: string;
const savedCC = process.env.CC;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'stevedore-console-'));
});

afterEach(async () => {
  if (savedCC === undefined) delete process.env.CC;
  else process.env.CC = savedCC;
  await rm(root, { recursive: true, force: true });
});

describe('consoleHelper', () => {
  it('builds the helper into <root>/bin once, named by its source; it answers its usage', async () => {
    const bin = await consoleHelper(root);
    expect(bin).toMatch(new RegExp(`^${root}/bin/stevedore-console-[0-9a-f]{16}$`));
    const built = (await stat(bin)).mtimeMs;
    expect(await consoleHelper(root)).toBe(bin);
    expect((await stat(bin)).mtimeMs).toBe(built); // not built again
    expect(await readdir(join(root, 'bin'))).toEqual([bin.split('/').pop()]); // no temporaries left
    const usage = await new Promise<{ code: number | null; stderr: string }>((resolve) =>
      execFile(bin, [], (err, _out, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr })),
    );
    expect(usage).toEqual({ code: 2, stderr: expect.stringMatching(/^usage: stevedore-console serve DIR/) });
  });

  it('without a C compiler: an unsupported error with a hint, nothing left in bin', async () => {
    process.env.CC = join(root, 'no-such-cc');
    const err = await consoleHelper(root).catch((e: unknown) => e);
    expect(kindOf(err)).toBe('unsupported');
    expect((err as Error).message).toMatch(/needs a C compiler/);
    expect((err as { hint?: string }).hint).toMatch(/gcc/);
    expect(await readdir(join(root, 'bin'))).toEqual([]);
  });
});
