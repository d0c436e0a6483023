// Terminals as a docker user checks them, in a real terminal (tmux: send-keys, capture-pane):
// `exec -it C sh` gives a prompt, runs commands, follows a resize, takes Ctrl-C, ends with the
// shell's exit status; `exec -t` alone; `run -dit` then `attach` (detach with Ctrl-P Ctrl-Q, attach
// again, exit status). Real runc and overlayfs, as root.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { engineEnv, type EngineEnv } from '../helpers/engine-cli.js';
import { CLI } from '../helpers/stevedore-process.js';

let e: EngineEnv;
let tmuxSocket: string;
let sessions = 0;

const tmux = (...args: string[]) =>
  new Promise<string>((resolve, reject) =>
    execFile('tmux', ['-S', tmuxSocket, ...args], (err, stdout, stderr) => (err ? reject(new Error(`tmux ${args[0]}: ${stderr || err.message}`)) : resolve(stdout))),
  );

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * A tmux session of 80x24 running `stevedore ARGS`; when it ends the pane shows `[exited N]`
 * and `icanon` when the terminal was given back in line mode (`-icanon`: left raw), then stays.
 */
async function terminal(args: string[]) {
  const name = `t${++sessions}`;
  const cmd = `STEVEDORE_ROOT=${quote(e.root)} ${quote(process.execPath)} ${quote(CLI)} ${args.map(quote).join(' ')}; echo "[exited $?]"; stty -a | grep -o -- '-\\{0,1\\}icanon'; exec sleep 3600`;
  await tmux('new-session', '-d', '-s', name, '-x', '80', '-y', '24', cmd);
  const screen = async () => (await tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', name)).replace(/[ \t]+$/gm, '').trimEnd();
  return {
    name,
    screen,
    /** Waits until the pane matches (every line checked, so output is told from the typed command). */
    async waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
      let last = '';
      return e.waitFor(
        () => `${pattern} in the terminal, which shows:\n${last}`,
        async () => {
          last = await screen();
          return pattern.test(last) ? last : undefined;
        },
        timeoutMs,
      );
    },
    keys: (...keys: string[]) => tmux('send-keys', '-t', name, ...keys),
    /** Types a line (literally) and Enter. */
    async type(line: string) {
      await tmux('send-keys', '-t', name, '-l', line);
      await tmux('send-keys', '-t', name, 'Enter');
    },
    resize: (cols: number, rows: number) => tmux('resize-window', '-t', name, '-x', String(cols), '-y', String(rows)),
  };
}

beforeAll(async () => {
  e = await engineEnv();
  tmuxSocket = join(e.dir, 'tmux.sock');
});

afterEach(async () => {
  await tmux('kill-server').catch(() => {});
  await e?.reset();
});

afterAll(async () => {
  await e?.close();
});

describe('exec with a terminal', () => {
  it('exec -it C sh: prompt, output, stty size after a resize, Ctrl-C stops a sleep, exit 3 is the status', async () => {
    await e.ok(['run', '-d', '--network', 'none', '--name', 'box', 'busybox:test', 'sleep', '3600']);
    const t = await terminal(['exec', '-it', 'box', 'sh']);
    await t.waitFor(/^\/ #$/m);
    await t.type('echo $((6 * 7))');
    await t.waitFor(/^42$/m);
    await t.type('stty size; tty');
    await t.waitFor(/^24 80\n\/dev\/pts\/\d+$/m);
    await t.resize(100, 30);
    await t.type('stty size');
    await t.waitFor(/^30 100$/m);
    // Ctrl-C reaches the shell's foreground job: the sleep ends long before its 300 s.
    await t.type('sleep 300; echo slept');
    await t.waitFor(/sleep 300; echo slept$/);
    await t.keys('C-c');
    await t.type('echo after-$((1 + 1))');
    await t.waitFor(/^after-2$/m);
    expect(await t.screen()).not.toMatch(/^slept$/m);
    await t.type('exit 3');
    await t.waitFor(/^\[exited 3\]\nicanon$/m);
    // The container itself runs on.
    expect(await e.waitRunning('box')).toBeGreaterThan(0);
  });

  it('exec -t without -i: the command sees a terminal of the pane\'s size; its status is ours', async () => {
    await e.ok(['run', '-d', '--network', 'none', '--name', 'box', 'busybox:test', 'sleep', '3600']);
    const t = await terminal(['exec', '-t', 'box', 'sh', '-c', 'tty; stty size; exit 5']);
    const shown = await t.waitFor(/^\[exited 5\]$/m);
    expect(shown).toMatch(/^\/dev\/pts\/\d+\n24 80\n/m);
  });

  it('exec -it of a missing command: one line and 127, the terminal given back', async () => {
    await e.ok(['run', '-d', '--network', 'none', '--name', 'box', 'busybox:test', 'sleep', '3600']);
    const t = await terminal(['exec', '-it', 'box', 'no-such-command']);
    const shown = await t.waitFor(/^\[exited 127\]\nicanon$/m);
    expect(shown).toMatch(/^stevedore: [^\n]*no-such-command[^\n]*\n\[exited 127\]$/m);
  });

  it('exec -it with stdin not a terminal: one line, no stack trace', async () => {
    await e.ok(['run', '-d', '--network', 'none', '--name', 'box', 'busybox:test', 'sleep', '3600']);
    const r = await e.stevedore(['exec', '-it', 'box', 'sh']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^stevedore: -t: the input device is not a TTY\n$/);
  });
});

describe('run -dit and attach', () => {
  it('attach shows the shell; resize and Ctrl-C work; Ctrl-P Ctrl-Q detaches; attached again, exit 4 is attach\'s status', async () => {
    const id = (await e.ok(['run', '-dit', '--network', 'none', '--name', 'tbox', 'busybox:test', 'sh'])).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    await e.waitRunning('tbox');
    const t = await terminal(['attach', 'tbox']);
    await t.type('echo $((6 * 7))');
    await t.waitFor(/^42$/m);
    await t.type('stty size');
    await t.waitFor(/^24 80$/m);
    await t.resize(100, 30);
    await t.type('stty size');
    await t.waitFor(/^30 100$/m);
    await t.type('sleep 300; echo slept');
    await t.waitFor(/sleep 300; echo slept$/);
    await t.keys('C-c');
    await t.type('echo after-$((1 + 1))');
    await t.waitFor(/^after-2$/m);
    // docker's detach keys: attach ends, the container runs on.
    await t.keys('C-p', 'C-q');
    await t.waitFor(/^read escape sequence\n\[exited 0\]\nicanon$/m);
    expect(await e.waitRunning('tbox')).toBeGreaterThan(0);

    const again = await terminal(['attach', 'tbox']);
    await again.type('echo second-$((2 + 2))');
    await again.waitFor(/^second-4$/m);
    await again.type('exit 4');
    await again.waitFor(/^\[exited 4\]\nicanon$/m);
    const [c] = JSON.parse(await e.ok(['container', 'inspect', 'tbox'])) as { state: string; exitCode: number }[];
    expect(c).toMatchObject({ state: 'exited', exitCode: 4 });
    // What the terminal showed is the container's log, as with docker.
    expect(await e.ok(['logs', 'tbox'])).toMatch(/^second-4\r?$/m);
  });

  it('attach under --restart always ends with the run\'s status, as docker\'s attach; the restarted shell takes a new attach', async () => {
    await e.ok(['run', '-dit', '--network', 'none', '--restart', 'always', '--name', 'rbox', 'busybox:test', 'sh']);
    await e.waitRunning('rbox');
    const t = await terminal(['attach', 'rbox']);
    await t.type('echo first-$((1 + 1))');
    await t.waitFor(/^first-2$/m);
    await t.type('exit 5');
    // Not held until the container stops for good: docker's attach returns here too.
    await t.waitFor(/^\[exited 5\]\nicanon$/m);
    type C = { state: string; restartCount: number; pid?: number; State: { Restarting: boolean } };
    await e.waitFor('the restarted shell', async () => {
      const [c] = JSON.parse(await e.ok(['container', 'inspect', 'rbox'])) as C[];
      return c!.state === 'running' && c!.restartCount === 1 && !c!.State.Restarting && c!.pid;
    });
    const again = await terminal(['attach', 'rbox']);
    await again.type('echo second-$((2 + 2))');
    await again.waitFor(/^second-4$/m);
    // Stopped by hand: attach ends with the stop's status and nothing restarts it.
    await e.ok(['stop', '-t', '1', 'rbox']);
    // (the shell's prompt is on the same line: the stop's SIGTERM ends it without a newline)
    await again.waitFor(/\[exited \d+\]\nicanon$/m);
    const [c] = JSON.parse(await e.ok(['container', 'inspect', 'rbox'])) as C[];
    expect(c).toMatchObject({ state: 'exited', restartCount: 1 });
  });

  it('create -t then start -ai: the shell in this terminal; its exit status is start\'s', async () => {
    await e.ok(['create', '-t', '--network', 'none', '--name', 'made', 'busybox:test', 'sh']);
    const t = await terminal(['start', '-ai', 'made']);
    await t.type('echo made-$((3 + 3))');
    await t.waitFor(/^made-6$/m);
    await t.type('exit 6');
    await t.waitFor(/^\[exited 6\]$/m);
    const [c] = JSON.parse(await e.ok(['container', 'inspect', 'made'])) as { state: string; exitCode: number }[];
    expect(c).toMatchObject({ state: 'exited', exitCode: 6 });
  });

  it('attach to a container without a terminal, as docker\'s: its output from now on, Ctrl-C passed on, its exit status', async () => {
    await e.ok(['run', '-d', '--network', 'none', '--name', 'plain', 'busybox:test', 'sh', '-c', 'trap "echo bye; echo gone >&2; exit 5" INT; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done']);
    await e.waitFor('the first ticks', async () => (await e.ok(['logs', 'plain'])).includes('tick 2\n'));
    const child = e.spawn(['attach', 'plain']);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const done = new Promise<number | null>((resolve) => child.once('close', resolve));
    await e.waitFor('two ticks through attach', async () => out.split('\n').filter(Boolean).length >= 2);
    // Only what came after attach started.
    expect(out).not.toMatch(/^tick 1$/m);
    child.kill('SIGINT');
    expect(await done).toBe(5);
    expect(out).toMatch(/^(tick \d+\n)+bye\n$/);
    expect(err).toBe('gone\n');
  });

  it('attach to a container that is not running: one line, non-zero', async () => {
    await e.ok(['run', '--network', 'none', '--name', 'gone', 'busybox:test', 'true']);
    const s = await e.stevedore(['attach', 'gone']);
    expect(s.code).not.toBe(0);
    expect(s.stderr).toMatch(/^stevedore: container gone is not running[^\n]*\n$/);
  });

  it('run -di without -t is refused with a hint', async () => {
    const r = await e.stevedore(['run', '-di', '--network', 'none', 'busybox:test', 'sh']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^stevedore: -d -i needs -t[^\n]*\n$/);
  });
});
