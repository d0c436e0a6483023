// The terminal view of `stevedore build` (--progress auto on a TTY), as a user sees it: the CLI
// runs in a tmux pane of its own, read with capture-pane while a step runs and after the build.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../helpers/stevedore-process.js';
import { buildEnv, type BuildEnv } from './build-env.js';

let env: BuildEnv;
const socket = `stevedore-build-tty-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, ...args], { encoding: 'utf8' });
beforeAll(async () => {
  env = await buildEnv();
}, 120_000);
afterAll(async () => {
  try {
    tmux('kill-server');
  } catch {
    // no server left
  }
  // kill-server leaves its socket file behind.
  rmSync(join(process.env.TMUX_TMPDIR ?? '/tmp', `tmux-${process.getuid!()}`, socket), { force: true });
  await env?.close();
});

/** Runs `stevedore build ARGS` in a fresh 100×30 pane; the pane stays after the exit, with the status. */
function buildInPane(name: string, args: string[]): () => string {
  const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  const cmd = `env STEVEDORE_ROOT=${quote(env.root)} TERM=xterm-256color ${quote(process.execPath)} ${quote(CLI)} build ${args.map(quote).join(' ')}; echo EXIT=$?; sleep 600`;
  tmux('-f', '/dev/null', 'new-session', '-d', '-s', name, '-x', '100', '-y', '30', cmd);
  // The visible screen (30 rows, more than any frame here): a view redrawn in place shows one
  // header, frames written one after another would show several.
  return () => tmux('capture-pane', '-p', '-J', '-t', name);
}

describe('stevedore build: the terminal view', () => {
  it('redraws steps in place with the running step\'s output under it, then a finished frame', async () => {
    const ctx = await env.context({
      Dockerfile: 'FROM busybox:test\nRUN --mount=type=bind,target=/ctx echo tty-output-one; echo tty-output-two; while [ ! -e /ctx/go ]; do sleep 0.1; done\nCMD ["true"]\n',
    });
    const screen = buildInPane('ok', ['--no-cache', '-t', 'tty:1', ctx]);
    const running = await env.waitFor('the running step in the pane', async () => {
      const s = screen();
      return s.includes('=> => # tty-output-two') && s;
    });
    expect(running).toMatch(/^\[\+\] Building \d+\.\ds \(1\/2\)$/m);
    expect(running).toMatch(/^ => \[1\/2\] FROM busybox:test +\d+\.\ds$/m);
    expect(running).toMatch(/^ => \[2\/2\] RUN --mount=type=bind,target=\/ctx echo tty-output-one; .*… +\d+\.\ds$/m);
    expect(running).toMatch(/^ => => # tty-output-one$/m);
    await writeFile(join(ctx, 'go'), '');
    const end = await env.waitFor('the build to end', async () => {
      const s = screen();
      return s.includes('EXIT=') && s;
    });
    expect(end).toContain('EXIT=0');
    const lines = end.split('\n').filter((l) => l.trim());
    expect(lines.filter((l) => l.startsWith('[+] Building'))).toHaveLength(1);
    expect(lines[0]).toMatch(/^\[\+\] Building \d+\.\ds \(3\/3\) FINISHED$/);
    expect(lines[1]).toMatch(/^ => \[1\/2\] FROM busybox:test +\d+\.\ds$/);
    expect(lines[2]).toMatch(/^ => \[2\/2\] RUN .* +\d+\.\ds$/);
    expect(lines[3]).toMatch(/^ => exporting to image +\d+\.\ds$/);
    expect(lines[4]).toBe('EXIT=0');
    expect(end).not.toContain('=> => # tty-output'); // a finished step's output is folded away
    expect(end).not.toContain('\x1b');
  }, 180_000);

  it('a failing step shows as ERROR with its last output, then the failure block and one error line', async () => {
    const ctx = await env.context({ Dockerfile: 'FROM busybox:test\nRUN echo tty-bad-line; exit 4\n' });
    const screen = buildInPane('bad', ['-t', 'tty:bad', ctx]);
    const end = await env.waitFor('the build to end', async () => {
      const s = screen();
      return s.includes('EXIT=') && s;
    });
    const lines = end.split('\n').filter((l) => l.trim());
    expect(lines[0]).toMatch(/^\[\+\] Building \d+\.\ds \(2\/2\) ERROR$/);
    expect(lines[2]).toMatch(/^ => ERROR \[2\/2\] RUN echo tty-bad-line; exit 4 +\d+\.\ds$/);
    expect(lines[3]).toBe(' => => # tty-bad-line');
    expect(end).toContain(' > [2/2] RUN echo tty-bad-line; exit 4:\ntty-bad-line\n------');
    expect(lines.at(-2)).toBe('stevedore: failed to build: process "/bin/sh -c echo tty-bad-line; exit 4" did not complete successfully: exit code: 4');
    expect(lines.at(-1)).not.toBe('EXIT=0');
    expect(await env.leftovers()).toEqual([]);
  }, 180_000);
});
