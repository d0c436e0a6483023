// `stevedore --help` and `--version` as a user runs them: the compiled CLI. A bare `--help` or
// `--version` is answered from a ready-made text (cli/root-help.ts) without declaring the commands;
// the same request with another option on the line goes through commander, which declares them
// all, so the two must print the same. A command's own help declares only that command's module.
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI } from '../helpers/stevedore-process.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function stevedore(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 120_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

describe('stevedore --help and --version', () => {
  it('--help, -h and help print the command list that commander prints with every command declared', async () => {
    // `--root DIR` on the line: not the ready-made path, commander's own help of the whole program.
    const [fast, short, word, full] = await Promise.all([stevedore(['--help']), stevedore(['-h']), stevedore(['help']), stevedore(['--root', '/nonexistent', '--help'])]);
    expect(full.code).toBe(0);
    expect(full.stdout).toMatch(/^Usage: stevedore \[options\] \[command\]\n/);
    for (const cmd of ['serve', 'pull', 'images', 'run [options] <image> [command...]', 'ps [options]', 'network', 'volume', 'compose', 'build']) expect(full.stdout).toContain(`\n  ${cmd}`);
    for (const r of [fast, short, word]) {
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(full.stdout);
    }
  });

  it('--version and -V print the version, as commander does', async () => {
    const [fast, short, full] = await Promise.all([stevedore(['--version']), stevedore(['-V']), stevedore(['--root', '/nonexistent', '--version'])]);
    expect(full).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
    expect(fast).toEqual(full);
    expect(short).toEqual(full);
  });

  it('a command\'s help lists its options, with no engine root needed', async () => {
    const ps = await stevedore(['ps', '--help']);
    expect(ps.code).toBe(0);
    expect(ps.stdout).toMatch(/^Usage: stevedore ps \[options\]\n/);
    expect(ps.stdout).toContain('-a, --all');
    const run = await stevedore(['run', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('--network <mode>');
    expect(run.stdout).toContain('--rm');
  });
});
