// The commands run without commander must read every line exactly as commander does with their
// real declarations, or leave it to commander: each line here is parsed both ways.
import { CommanderError, type Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { LIGHT_COMMANDS, lightLine } from './light-commands.js';
import { programFor } from './program.js';

interface Parsed {
  root?: string;
  opts: Record<string, unknown>;
  operands: string[];
}

/** What commander makes of a line with the real declarations: the command's options and operands, or 'refused' (an error or help). */
async function commanderParse(args: string[]): Promise<Parsed | 'refused'> {
  const argv = ['node', 'stevedore', ...args];
  const { program } = await programFor(argv);
  let parsed: Parsed | undefined;
  const silent = { writeOut: () => {}, writeErr: () => {}, outputError: () => {} };
  program.configureOutput(silent);
  for (const cmd of program.commands) {
    cmd.configureOutput(silent);
    cmd.action((...a: unknown[]) => {
      const c = a[a.length - 1] as Command;
      parsed = { root: program.opts().root as string | undefined, opts: { ...c.opts() }, operands: [...c.args] };
    });
  }
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) return 'refused';
    throw err;
  }
  return parsed!;
}

function lightParse(args: string[]): Parsed | undefined {
  const line = lightLine(args);
  return line && { root: line.root, opts: line.parsed.opts, operands: line.parsed.operands };
}

/** Lines the light path must run itself (each parsed as commander parses it). */
const RUN_HERE: string[][] = [
  ['images'],
  ['images', '-q'],
  ['images', '--json'],
  ['images', '--quiet', '-f', 'dangling=true'],
  ['images', '--filter=reference=x*', '-f', 'label=a', '-fdangling=false'],
  ['images', '--format', '{{.ID}}'],
  ['images', '--format=json'],
  ['images', '-qf', 'dangling=false'],
  ['--root', '/r', 'images'],
  ['--root=/r', '--root', '/s', 'images', '-q'],
  ['ps'],
  ['ps', '-a'],
  ['ps', '-aq'],
  ['ps', '--no-trunc', '--all', '--quiet'],
  ['ps', '-n', '2'],
  ['ps', '--last', '-1'],
  ['ps', '-an3'],
  ['ps', '-l', '-s'],
  ['ps', '--json', '--size'],
  ['ps', '--format', '{{.ID}} {{.Names}}'],
  ['ps', '-f', 'status=exited', '--filter', 'name=x', '--filter=label=a=b'],
  ['--root', '/r', 'ps', '-a'],
  ['tags', 'repo'],
  ['tags', '--plain-http', 'localhost:5000/repo'],
  ['tags', 'localhost:5000/repo', '--plain-http'],
  ['tags', '--insecure-registry', 'a', '--insecure-registry=b', 'r'],
  ['tags', '--creds', 'u:p', 'r'],
  ['tags', '--creds=u:p:q', 'r'],
  ['tags', '--client-config', '/f', '-q', '--json', 'r'],
  ['tags', '--insecure', '-q', 'r'],
  ['tags', '-'],
  ['--root', '/r', 'tags', 'r'],
  ['pull', '-o', 'oci:/d', 'r'],
  ['pull', 'localhost:5000/r:1', '--plain-http', '--output=oci:/d:t', '-j', '6', '-q'],
  ['pull', '-qo', 'docker-archive:/a.tar', '--platform', 'linux/arm64', 'r'],
  ['pull', '-a', '-j8', '--insecure-registry', 'h', '-o', 'oci:/d', 'r'],
  ['push', 'oci:/d:t', 'localhost:5000/r:1'],
  ['push', '-q', '--plain-http', 'oci:/d', 'r', '-j', '2'],
  ['push', '--all-platforms', '--creds=u:p', 'docker-archive:/a.tar', 'h/r'],
];

/** Lines left to commander: errors, help, and forms this path does not read. */
const LEFT_TO_COMMANDER: string[][] = [
  ['images', 'x'],
  ['images', '--bogus'],
  ['images', '-qx'],
  ['images', '-q', '--help'],
  ['images', '-h'],
  ['images', '--format'],
  ['images', '--json=yes'],
  ['images', '--root', '/r'], // commander takes the program's option here; this path does not
  ['images', '--format', '--root'],
  ['images', '--', '-q'],
  ['ps', '--trunc'],
  ['ps', 'x'],
  ['ps', '--root', '/r'], // an error: options are positional once `run` is declared
  ['ps', '-n'],
  ['ps', '-ah'],
  ['ps', '-5'],
  ['tags'],
  ['tags', 'a', 'b'],
  ['tags', '--creds'],
  ['tags', '--bogus', 'r'],
  ['tags', 'r', '--help'],
  ['tags', '-q'],
  ['tags', '--json', '--', 'r'],
  ['--root'],
  ['--root', '-q', 'images'],
  ['--bogus', 'images'],
  ['-V', 'images'],
  ['help', 'images'],
  ['image', 'ls'],
  ['run', 'busybox'],
  ['pull', 'r'], // into the local store: the engine's path
  ['pull', '-q', '--plain-http', 'r'],
  ['pull', '-o'],
  ['pull', '-o', 'oci:/d'],
  ['pull', '-o', 'oci:/d', 'r', 's'],
  ['pull', '-o', 'oci:/d', 'r', '--help'],
  ['push', 'oci:/d'], // no destination: commander's path says so
  ['push', 'app:1', 'h/app:1'], // a local image: the engine's path
  ['push', 'docker://h/a', 'h/b'],
  ['push', 'oci:/d', 'r', 's'],
  ['push', '-j', 'oci:/d', 'r'],
];

describe('images, ps, tags, pull -o and push of a layout without commander', () => {
  it('declares the same options as the commands commander runs', async () => {
    for (const [name, light] of Object.entries(LIGHT_COMMANDS)) {
      const { program } = await programFor(['node', 'stevedore', name]);
      const cmd = program.commands.find((c) => c.name() === name)!;
      const declared = cmd.options.map((o) => `${o.short ?? ''} ${o.long} ${o.required ? 'value' : o.optional ? 'optional' : o.negate ? 'negated' : 'flag'}`).sort();
      const here = light.options.map((o) => `${o.short ?? ''} ${o.long} ${o.kind === 'repeated' ? 'value' : o.kind}`).sort();
      expect(here, name).toEqual(declared);
      expect(light.operands, name).toBe(cmd.registeredArguments.length);
    }
  });

  it('parses each line it runs as commander does', async () => {
    for (const args of RUN_HERE) {
      const light = lightParse(args);
      expect(light, `runs here: ${args.join(' ')}`).toBeDefined();
      expect(light, args.join(' ')).toEqual(await commanderParse(args));
    }
  });

  it('leaves every other line to commander', async () => {
    for (const args of LEFT_TO_COMMANDER) expect(lightParse(args), args.join(' ')).toBeUndefined();
    // Most of them commander refuses or answers with help; the others it reads its own way.
    expect(await commanderParse(['images', '--bogus'])).toBe('refused');
    expect(await commanderParse(['ps', '--root', '/r'])).toBe('refused');
    expect(await commanderParse(['images', '--root', '/r'])).toEqual({ root: '/r', opts: { filter: [] }, operands: [] });
  });
});
