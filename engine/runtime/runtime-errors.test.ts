import { describe, expect, it } from 'vitest';
import { kindOf } from '../../util/errors.js';
import { commandError, isStartFailureOutput, notInstalled, RuntimeError, runtimeMessage, startError, startFailure } from './runtime-errors.js';

/** A line of runc's `--log-format json` log. */
const logLine = (level: string, msg: string) => JSON.stringify({ level, msg, time: '2026-12-03T15:00:00Z' });

describe('start failures (runc run / exec, from its JSON log)', () => {
  it('a command that does not exist: not-found, docker status 127, the prefix dropped', () => {
    const log = [logLine('warning', 'something minor'), logLine('error', 'runc run failed: unable to start container process: exec: "nosuch": executable file not found in $PATH')].join('\n');
    const err = startError(log)!;
    expect(err).toBeInstanceOf(RuntimeError);
    expect(err.message).toBe('unable to start container process: exec: "nosuch": executable file not found in $PATH');
    expect(err.failure).toBe('command-not-found');
    expect(kindOf(err)).toBe('not-found');
    expect(err.exitStatus).toBe(127);
    expect(startFailure(log)).toMatchObject({ message: err.message, status: 127 });
  });

  it('an absolute path that does not exist is not found too (127)', () => {
    const err = startError(logLine('error', 'runc exec failed: unable to start container process: exec: "/no/such": stat /no/such: no such file or directory'))!;
    expect(err.exitStatus).toBe(127);
  });

  it('a command that cannot be invoked (permission, format, a directory): 126', () => {
    for (const why of ['exec: "/etc/passwd": permission denied', 'exec: "/bin/x": exec format error', 'exec: "/": is a directory']) {
      const err = startError(logLine('error', `runc exec failed: unable to start container process: ${why}`))!;
      expect(err.failure, why).toBe('command-not-invokable');
      expect(err.exitStatus, why).toBe(126);
      expect(kindOf(err)).toBe('invalid');
    }
  });

  it('any other runtime failure: 125', () => {
    const err = startError(logLine('fatal', 'crun create failed: cgroup: no space left on device'))!;
    expect(err.message).toBe('cgroup: no space left on device');
    expect(err.exitStatus).toBe(125);
  });

  it('no error logged (the command ran and failed itself): none', () => {
    expect(startError('')).toBeUndefined();
    expect(startError(`${logLine('warning', 'exec: "x": executable file not found')}\nnot json\n`)).toBeUndefined();
    expect(startFailure('')).toBeUndefined();
  });
});

describe('runtime command failures (state, kill, delete)', () => {
  it('a container the runtime does not know: no-such-container (runc and crun wordings)', () => {
    const runc = commandError('runc', 'state', 'time="2026-12-03T15:00:00Z" level=error msg="container does not exist"\n', 'exit status 1');
    expect(runc.message).toBe('runc state: container does not exist');
    expect(runc.failure).toBe('no-such-container');
    expect(kindOf(runc)).toBe('not-found');
    const crun = commandError('crun', 'delete', "crun: error opening file `/run/crun/abc/status`: No such file or directory\n", 'exit status 1');
    expect(crun.failure).toBe('no-such-container');
  });

  it('another failure keeps the runtime message (or the process error when it said nothing)', () => {
    const err = commandError('runc', 'pause', 'time="x" level=error msg="container not running"\n', 'exit status 1');
    expect(err.failure).toBe('runtime');
    expect(err.message).toBe('runc pause: container not running');
    expect(kindOf(err)).toBe('conflict');
    expect(commandError('runc', 'kill', '', 'Command failed: runc kill').message).toBe('runc kill: Command failed: runc kill');
  });

  it('runtimeMessage unquotes runc\'s msg="…" and falls back to the last line', () => {
    expect(runtimeMessage('time="t" level=error msg="exec: \\"x\\": nope"\n')).toBe('exec: "x": nope');
    expect(runtimeMessage('first\nsecond\n')).toBe('second');
  });

  it('a runtime that is not installed says which package, with a hint', () => {
    const err = notInstalled('crun');
    expect(err.message).toBe('crun is not installed (Debian package crun)');
    expect(kindOf(err)).toBe('unsupported');
    expect(err.hint).toMatch(/--runtime/);
  });
});

it("tells the runtime's own exec failure on stderr from the command's output", () => {
  expect(isStartFailureOutput(Buffer.from('exec failed: unable to start container process: …\n'))).toBe(true);
  expect(isStartFailureOutput(Buffer.from('runc exec failed: unable to start container process: …\n'))).toBe(true);
  expect(isStartFailureOutput(Buffer.from('runc run failed: unable to start container process: …\n'))).toBe(true);
  expect(isStartFailureOutput(Buffer.from('sh: exec failed: no\n'))).toBe(false);
});
