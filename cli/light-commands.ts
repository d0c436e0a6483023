// The commands run without commander: `images`, `ps` and `tags` are timed against `node -e 0`
// (bench/cli-start.ts; goals ≤ 1.6× and ≤ 2×), `pull -o` and the push of a layout or archive
// against skopeo (bench/client-pull.ts),
// and commander with the declarations of a command
// module costs about half of Node's own start-up. Their options are repeated here from their
// declarations (engine-image-commands.ts, engine-container-commands.ts, client-commands.ts /
// client-options.ts) and parsed the way commander parses them (light-argv.ts); light-commands.test.ts
// parses the same lines with commander and checks both agree. Anything else on the line — help, an
// error, another command, a global option other than --root before the command — goes to
// commander (program.ts) untouched.
import type { CopyFlags } from './client-actions.js';
import type { ClientFlags } from './client-options.js';
import type { ListImagesFlags } from './engine-images-list.js';
import type { PsFlags } from './engine-ps.js';
import { parseLight, type LightCommand, type LightOption, type LightParse } from './light-argv.js';

interface Light extends LightCommand {
  /** Errors reported without their class name (container commands, as in program.ts). */
  plain: boolean;
  /** Whether this path runs a line it parsed (absent: always); otherwise commander does. */
  takes?(parsed: LightParse): boolean;
  run(root: string | undefined, parsed: LightParse): Promise<void>;
}

/** addClientOptions (client-options.ts). */
const CLIENT_OPTIONS: LightOption[] = [
  { long: '--insecure', kind: 'flag' },
  { long: '--plain-http', kind: 'flag' },
  { long: '--insecure-registry', kind: 'repeated' },
  { long: '--creds', kind: 'value' },
  { long: '--client-config', kind: 'value' },
  { short: '-q', long: '--quiet', kind: 'flag' },
  { long: '--json', kind: 'flag' },
];

export const LIGHT_COMMANDS: Record<string, Light> = {
  // Into a layout or archive only: a pull into the local store is the engine's (commander's path).
  pull: {
    options: [
      ...CLIENT_OPTIONS,
      { long: '--platform', kind: 'value' },
      { short: '-a', long: '--all-platforms', kind: 'flag' },
      { short: '-j', long: '--concurrency', kind: 'value' },
      { short: '-o', long: '--output', kind: 'value' },
    ],
    operands: 1,
    plain: false,
    takes: ({ opts }) => opts.output !== undefined,
    run: async (_root, { opts, operands }) => (await import('./client-actions.js')).pullToOutput(operands[0]!, opts as unknown as CopyFlags & { output: string }),
  },
  // From a layout or archive only: a push of a local image is the engine's (commander's path).
  push: {
    options: [...CLIENT_OPTIONS, { long: '--platform', kind: 'value' }, { short: '-a', long: '--all-platforms', kind: 'flag' }, { short: '-j', long: '--concurrency', kind: 'value' }],
    operands: 2,
    plain: false,
    takes: ({ operands }) => /^(oci|docker-archive):/.test(operands[0]!),
    run: async (_root, { opts, operands }) => (await import('./client-actions.js')).pushLayout(operands[0]!, operands[1]!, opts as unknown as CopyFlags),
  },
  images: {
    options: [
      { short: '-q', long: '--quiet', kind: 'flag' },
      { long: '--json', kind: 'flag' },
      { short: '-f', long: '--filter', kind: 'repeated', emptyList: true },
      { long: '--format', kind: 'value' },
    ],
    operands: 0,
    plain: false,
    run: async (root, { opts }) => {
      const [{ listImages }, { resolveRoot }] = await Promise.all([import('./engine-images-list.js'), import('../engine/root.js')]);
      return listImages(resolveRoot(root), opts as ListImagesFlags);
    },
  },
  ps: {
    options: [
      { short: '-a', long: '--all', kind: 'flag' },
      { short: '-q', long: '--quiet', kind: 'flag' },
      { long: '--no-trunc', kind: 'negated' },
      { short: '-f', long: '--filter', kind: 'repeated', emptyList: true },
      { long: '--format', kind: 'value' },
      { long: '--json', kind: 'flag' },
      { short: '-n', long: '--last', kind: 'value' },
      { short: '-l', long: '--latest', kind: 'flag' },
      { short: '-s', long: '--size', kind: 'flag' },
    ],
    operands: 0,
    plain: true,
    run: async (root, { opts }) => {
      const [{ listContainersAt }, { resolveRoot }] = await Promise.all([import('./engine-ps.js'), import('../engine/root.js')]);
      return listContainersAt(resolveRoot(root), opts as unknown as PsFlags);
    },
  },
  tags: {
    options: CLIENT_OPTIONS,
    operands: 1,
    plain: false,
    run: async (_root, { opts, operands }) => (await import('./client-query-actions.js')).tagsCommand(operands[0]!, opts as ClientFlags),
  },
};

/**
 * The command of a line this module runs, with its --root (before the command, the only global
 * option taken here) and its parsed arguments; `undefined` for a line left to commander.
 */
export function lightLine(args: readonly string[]): { name: string; root?: string; parsed: LightParse } | undefined {
  let root: string | undefined;
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--root') {
      // A value that looks like an option is left to commander (which would take it as the value).
      const value = args[++i];
      if (value === undefined || value.startsWith('-')) return undefined;
      root = value;
    } else if (arg.startsWith('--root=')) root = arg.slice('--root='.length);
    else break;
  }
  const name = args[i];
  const light = name === undefined || !Object.hasOwn(LIGHT_COMMANDS, name) ? undefined : LIGHT_COMMANDS[name]!;
  const parsed = light && parseLight(args.slice(i + 1), light);
  return parsed && (light.takes?.(parsed) ?? true) ? { name: name!, root, parsed } : undefined;
}

/**
 * Ends the process once what it printed has been handed to the system. Left to end by itself, a
 * finished command still tears down V8's heap and joins its threads: 9-14 ms of wall time in an
 * interleaved test (more under load, no CPU) that `images` and `tags` spent waiting after their
 * output. What is still queued for a slow reader of a pipe is written first.
 */
async function exitWhenWritten(): Promise<never> {
  await Promise.all([process.stdout, process.stderr].map((s) => (s.writableLength > 0 ? new Promise<void>((resolve) => s.write('', () => resolve())) : undefined)));
  process.exit();
}

/** Runs the line if it is one of these commands in a form commander accepts; false to leave it to commander. */
export async function runLight(args: readonly string[]): Promise<boolean> {
  const line = lightLine(args);
  if (!line) return false;
  const light = LIGHT_COMMANDS[line.name]!;
  try {
    await light.run(line.root, line.parsed);
  } catch (err) {
    (await import('./error-report.js')).failCommand(err, light.plain);
  }
  return exitWhenWritten();
}
