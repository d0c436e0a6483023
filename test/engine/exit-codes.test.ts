// `run` and `exec` exit as docker's do, with one line on stderr when they fail: the command's own
// status when it ran, 127 when it was not found, 126 when it cannot be invoked, 125 when the
// engine failed around it (no such container, not running, a name in use). The runtime's failures
// are classified in engine/runtime/runtime-errors.ts. Real runc and overlayfs, as root.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { engineEnv, type EngineEnv, type Run } from '../helpers/engine-cli.js';

let e: EngineEnv;

beforeAll(async () => {
  e = await engineEnv();
});

afterEach(async () => {
  await e?.reset();
});

afterAll(async () => {
  await e?.close();
});

/** The failure's one line on stderr. */
function oneLine(r: Run): string {
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^stevedore: /);
  return lines[0]!;
}

describe('run', () => {
  it("exits with the command's status, 127 not found, 126 not executable, 125 an engine error", async () => {
    expect((await e.stevedore(['run', '--rm', 'busybox:test', 'sh', '-c', 'exit 3'])).code).toBe(3);
    const missing = await e.stevedore(['run', '--rm', 'busybox:test', 'no-such-command']);
    expect(missing.code).toBe(127);
    expect(oneLine(missing)).toMatch(/no-such-command.*executable file not found/);
    const notExecutable = await e.stevedore(['run', '--rm', 'busybox:test', '/etc/passwd']);
    expect(notExecutable.code).toBe(126);
    expect(oneLine(notExecutable)).toMatch(/\/etc\/passwd.*permission denied/);
    await e.ok(['run', '-d', '--name', 'taken', 'busybox:test', 'sh', '-c', 'while true; do sleep 0.1; done']);
    const inUse = await e.stevedore(['run', '--rm', '--name', 'taken', 'busybox:test', 'true']);
    expect(inUse.code).toBe(125);
    expect(oneLine(inUse)).toMatch(/taken/);
  });
});

describe('exec', () => {
  it("exits with the command's status, 127, 126 (and for an unknown user), 125 for a missing or stopped container", async () => {
    await e.ok(['run', '-d', '--name', 'x', 'busybox:test', 'sh', '-c', 'while true; do sleep 0.1; done']);
    await e.waitRunning('x');
    expect((await e.stevedore(['exec', 'x', 'sh', '-c', 'exit 4'])).code).toBe(4);
    const missing = await e.stevedore(['exec', 'x', 'no-such-command']);
    expect(missing.code).toBe(127);
    expect(oneLine(missing)).toMatch(/no-such-command.*executable file not found/);
    const notExecutable = await e.stevedore(['exec', 'x', '/etc/passwd']);
    expect(notExecutable.code).toBe(126);
    expect(oneLine(notExecutable)).toMatch(/\/etc\/passwd.*permission denied/);
    const user = await e.stevedore(['exec', '-u', 'nobody-here', 'x', 'id']);
    expect(user.code).toBe(126);
    expect(oneLine(user)).toMatch(/unable to find user nobody-here/);
    const gone = await e.stevedore(['exec', 'nosuch', 'true']);
    expect(gone.code).toBe(125);
    expect(oneLine(gone)).toBe('stevedore: no such container: nosuch');
    await e.ok(['stop', '-t', '1', 'x']);
    const stopped = await e.stevedore(['exec', 'x', 'true']);
    expect(stopped.code).toBe(125);
    expect(oneLine(stopped)).toMatch(/container x is not running/);
  });
});
