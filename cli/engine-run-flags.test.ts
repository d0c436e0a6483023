// The quick `run` parser against commander itself: on every line it takes, it must give the action
// exactly what commander gives; every line commander refuses (or answers with help) it must leave to
// commander.
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerContainerCommands } from './engine-container-commands.js';
import { parseRunLine } from './engine-run-flags.js';

/** What commander hands `run`'s action for these arguments, or 'refused' (an error or help). */
async function viaCommander(args: string[]): Promise<{ image: string; command: string[]; flags: Record<string, unknown> } | 'refused'> {
  const program = new Command().exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  registerContainerCommands(program);
  let got: { image: string; command: string[]; flags: Record<string, unknown> } | undefined;
  program.commands.find((c) => c.name() === 'run')!.action((image: string, command: string[], flags: Record<string, unknown>) => {
    got = { image, command, flags: { ...flags } };
  });
  try {
    await program.parseAsync(['run', ...args], { from: 'user' });
  } catch {
    return 'refused';
  }
  return got ?? 'refused';
}

const TAKEN: string[][] = [
  ['--rm', '--network', 'none', 'bench:1', 'true'],
  ['busybox'],
  ['busybox', 'sh', '-c', 'echo hi --rm -d'],
  ['-d', '--name', 'web', '-p', '8080:80', '-p', '8443:443', 'nginx'],
  ['-dit', 'alpine'],
  ['-it', '--rm', 'alpine', 'sh'],
  ['-e', 'A=1', '-eB=2', '--env=C=3', '-e', 'D', 'img', 'env'],
  ['-de', 'A=1', 'img'],
  ['--name', '-weird', 'img'],
  ['-v', '/a:/b:ro', '--mount', 'type=tmpfs,target=/t', '--tmpfs', '/run', '--volumes-from', 'other:ro', 'img'],
  ['-w', '/work', '-u', '1000:1000', '--entrypoint', '/bin/sh', '--hostname', 'h', 'img', '-c', 'id'],
  ['-m', '64m', '--cpus', '1.5', '--pids-limit', '10', '--read-only', '--init', 'img'],
  ['--cap-add', 'NET_ADMIN', '--cap-drop', 'ALL', '--cap-add=SYS_TIME', 'img'],
  ['--restart', 'on-failure:3', '--runtime', 'crun', '-l', 'a=b', '--label', 'c', 'img'],
  ['--health-cmd', 'true', '--health-interval', '1s', '--health-timeout', '2s', '--health-retries', '3', '--health-start-period', '5s', 'img'],
  ['--no-healthcheck', 'img'],
  ['-P', '--network-alias', 'x', '--ip', '10.0.0.5', '--dns', '1.1.1.1', '--add-host', 'h:1.2.3.4', '--mac-address', '02:42:ac:11:00:02', '--network', 'net1', 'img'],
  ['--rm', '--', 'img', '--rm'],
  ['-', 'x'],
  ['img', '--help'],
  ['--rm', '--rm', '--name', 'a', '--name', 'b', 'img'],
];

const LEFT: string[][] = [
  [],
  ['--rm'],
  ['--help'],
  ['-h', 'img'],
  ['--rm', '-h'],
  ['--bogus', 'img'],
  ['-x', 'img'],
  ['-dx', 'img'],
  ['--name'],
  ['--rm=true', 'img'],
  ['--root', '/x', 'img'],
  ['--rm', '--'],
];

describe('parseRunLine', () => {
  it.each(TAKEN)('gives the action what commander gives: %j', async (...args) => {
    const quick = parseRunLine(args);
    expect(quick).toBeDefined();
    expect(await viaCommander(args)).toEqual(quick);
  });

  it.each(LEFT)('leaves to commander: %j', async (...args) => {
    expect(parseRunLine(args)).toBeUndefined();
    // ...and commander refuses each of them itself (an error or its help).
    expect(await viaCommander(args)).toBe('refused');
  });
});
