// `stevedore build`: Dockerfile builds without a daemon (builder/), into the local store under
// each -t name, to an OCI layout or docker-archive (-o), or pushed to each -t name's registry.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { kindOf } from '../util/errors.js';
import { ClientError } from '../client/errors.js';
import type { Location } from '../client/index.js';
import { Builder, readDockerfile, type BuildResult } from '../builder/build.js';
import { openContext } from '../builder/build-context.js';
import { makeProgress, progressMode } from '../builder/progress.js';
import { makeTtyProgress } from '../builder/progress-tty.js';
import { killRunning, RunStepError } from '../builder/run-step.js';
import { Workspace } from '../builder/layer/workspace.js';
import { ImageStore } from '../engine/store/image-store.js';
import { formatReference, parseReference } from '../oci/reference.js';
import { addClientOptions, clientFrom, type ClientFlags } from './client-options.js';
import { rootOf } from './engine-root.js';

interface BuildFlags extends ClientFlags {
  tag: string[];
  file?: string;
  buildArg: string[];
  target?: string;
  platform?: string;
  label: string[];
  cache: boolean;
  pull?: boolean;
  network: string;
  push?: boolean;
  output?: string;
  iidfile?: string;
  progress: string;
  secret: string[];
  compression: string;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

function keyValue(text: string, what: string): [string, string | undefined] {
  const eq = text.indexOf('=');
  const key = eq < 0 ? text : text.slice(0, eq);
  if (!key) throw new ClientError(`${what} ${JSON.stringify(text)}: KEY[=VALUE] expected`);
  return [key, eq < 0 ? undefined : text.slice(eq + 1)];
}

function parseSecret(text: string): [string, string] {
  const fields = new Map(text.split(',').map((p) => keyValue(p, '--secret') as [string, string]));
  const id = fields.get('id');
  const src = fields.get('src') ?? fields.get('source');
  if (!id || !src) throw new ClientError(`--secret ${text}: id=ID,src=FILE expected`);
  return [id, src];
}

function parseEpoch(env: NodeJS.ProcessEnv): number | undefined {
  const v = env.SOURCE_DATE_EPOCH;
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v)) throw new ClientError(`SOURCE_DATE_EPOCH=${v}: seconds since 1970 expected`);
  return Number(v);
}

/** The failed step, its last output lines and exit code, as BuildKit shows them. */
function failureBlock(err: Error & { stepTitle?: string }): string {
  const lines = err instanceof RunStepError ? err.lastLines : [];
  return `------\n > ${err.stepTitle ?? 'build'}:\n${lines.map((l) => `${l}\n`).join('')}------\n`;
}

async function build(contextArg: string, flags: BuildFlags, cmd: Command): Promise<void> {
  if (process.getuid?.() !== 0) throw new ClientError('build needs root (RUN steps run containers, layers hold files of any owner)');
  const root = rootOf(cmd);
  const quiet = !!flags.quiet;
  const mode = progressMode(quiet, flags.progress, process.stderr, process.env.TERM);
  if (flags.network !== 'host' && flags.network !== 'none' && flags.network !== 'default') throw new ClientError(`--network ${flags.network}: host or none`);
  const tags = flags.tag.map((t) => {
    try {
      const ref = parseReference(t);
      if (ref.digest) throw new ClientError(`-t ${t}: a tag cannot be a digest`);
      return formatReference(ref);
    } catch (err) {
      throw new ClientError(`-t ${t}: ${(err as Error).message}`);
    }
  });
  if (flags.push && tags.length === 0) throw new ClientError('--push needs a -t NAME to push to');
  // The client (and its HTTP stack) loads only for -o and --push: a build into the store needs none of it.
  const locations = flags.output || flags.push ? await import('../client/locations.js') : undefined;
  const output: Location | undefined = flags.output ? locations!.parseLocation(flags.output) : undefined;
  if (output && output.kind === 'registry') throw new ClientError(`-o ${flags.output}: oci:DIR[:TAG] or docker-archive:FILE expected (use --push for a registry)`);
  const buildArgs = new Map<string, string>();
  for (const a of flags.buildArg) {
    const [k, v] = keyValue(a, '--build-arg');
    const value = v ?? process.env[k];
    if (value !== undefined) buildArgs.set(k, value);
  }
  const labels: Record<string, string> = {};
  for (const l of flags.label) {
    const [k, v] = keyValue(l, '--label');
    labels[k] = v ?? '';
  }
  const secrets = new Map(flags.secret.map(parseSecret));
  if (flags.compression !== 'gzip' && flags.compression !== 'zstd') throw new ClientError(`--compression ${flags.compression}: gzip or zstd`);
  const store = new ImageStore(root);
  const write = (t: string) => process.stderr.write(t);
  const progress = mode === 'tty' ? makeTtyProgress(write, { columns: () => process.stderr.columns || 80, rows: () => process.stderr.rows || 24 }) : makeProgress(mode, write);
  const ctx = await openContext(contextArg, process.stdin, join(root, 'builder', 'tmp'));
  // Ctrl-C: containers are killed, mounts and temporary directories removed, then exit.
  let stopping: Promise<void> | undefined;
  const interrupted = (signal: NodeJS.Signals) => {
    stopping ??= (async () => {
      progress.close?.();
      await killRunning();
      await Workspace.closeAll();
      await ctx.dispose();
      process.stderr.write(`stevedore: build interrupted (${signal})\n`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    })();
  };
  process.on('SIGINT', interrupted);
  process.on('SIGTERM', interrupted);
  let result: BuildResult;
  try {
    const df = ctx.dockerfileText !== undefined && !flags.file ? { text: ctx.dockerfileText, name: 'Dockerfile' } : await readDockerfile(ctx.dir, flags.file);
    const builder = new Builder({
      root,
      store,
      contextDir: ctx.dir,
      ...(ctx.ignore ? { ignore: ctx.ignore } : {}),
      dockerfileText: df.text,
      dockerfileName: df.name,
      tags,
      buildArgs,
      ...(flags.target ? { target: flags.target } : {}),
      ...(flags.platform ? { platform: flags.platform } : {}),
      labels,
      noCache: !flags.cache,
      pull: !!flags.pull,
      network: flags.network === 'none' ? 'none' : 'host',
      secrets,
      ...(parseEpoch(process.env) !== undefined ? { epoch: parseEpoch(process.env)! } : {}),
      compression: flags.compression,
      progress,
      client: () => clientFrom(flags),
    });
    result = await builder.run();
  } catch (err) {
    // A step failing because Ctrl-C killed its container: the interrupt decides how we exit.
    if (stopping) await stopping;
    const e = err as Error & { kind?: string; stepTitle?: string; exitCode?: number };
    progress.close?.();
    if (e.stepTitle) write(failureBlock(e));
    if (e.kind || e instanceof ClientError) throw new ClientError(`failed to build: ${e.message.split('\n')[0]}`, { kind: kindOf(e) });
    throw err;
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await ctx.dispose();
  }
  if (result.unusedArgs.length) progress.note(`[Warning] One or more build-args [${result.unusedArgs.join(' ')}] were not consumed`);
  const exportV = progress.vertex('exporting to image');
  try {
    exportV.output(`writing image ${result.id} done`);
    for (const t of tags) exportV.output(`naming to ${t} done`);
    if (locations && (output || flags.push)) {
      const { parseLocation, openDestination } = locations;
      const [{ copyImage }, { LocalStoreSource }] = await Promise.all([import('../client/copy-image.js'), import('../engine/image-archive.js')]);
      const client = await clientFrom({ ...flags, quiet: true });
      try {
        const source = new LocalStoreSource(store, result.record, tags[0]);
        if (output) {
          const loc = output.kind === 'docker-archive' && !output.ref && tags[0] ? { ...output, ref: parseReference(tags[0]) } : output;
          const dst = openDestination(loc, { registryClient: (r) => client.registryClient(r) });
          try {
            await copyImage(source, dst);
          } finally {
            await dst.close?.();
          }
          exportV.output(`exported to ${flags.output}`);
        }
        if (flags.push) {
          for (const t of tags) {
            const dst = openDestination(parseLocation(t), { registryClient: (r) => client.registryClient(r) });
            try {
              await copyImage(source, dst);
            } finally {
              await dst.close?.();
            }
            exportV.output(`pushed ${t}`);
          }
        }
      } finally {
        await client.close();
      }
    }
    exportV.done();
  } catch (err) {
    exportV.error((err as Error).message);
    throw err;
  } finally {
    progress.close?.();
  }
  if (flags.iidfile) await writeFile(flags.iidfile, result.id);
  if (quiet) process.stdout.write(`${result.id}\n`);
}

export function registerBuildCommand(program: Command): void {
  const cmd = program
    .command('build')
    .description('build an image from a Dockerfile, without a daemon (into the local store, or -o, or --push)')
    .argument('<context>', 'the build context: a directory, or - for a tar (or a Dockerfile) on standard input')
    .option('-t, --tag <name>', 'name the image NAME[:TAG]; repeatable', collect, [])
    .option('-f, --file <dockerfile>', 'the Dockerfile (default CONTEXT/Dockerfile)')
    .option('--build-arg <key[=value]>', 'a build argument; repeatable', collect, [])
    .option('--target <stage>', 'build up to this stage')
    .option('--platform <os/arch>', 'the platform to build for (only this host\'s when RUN is used)')
    .option('--label <key=value>', 'a label on the image; repeatable', collect, [])
    .option('--no-cache', 'do not use the build cache')
    .option('--pull', 'always pull base images, even when they are in the local store')
    .option('--network <mode>', 'network for RUN: host (default) or none', 'host')
    .option('--push', 'push the image to each -t name')
    .option('-o, --output <dest>', 'also write the image to oci:DIR[:TAG] or docker-archive:FILE')
    .option('--iidfile <file>', 'write the image id to this file')
    .option('--progress <mode>', 'auto (a terminal view on a TTY, else plain), plain, tty or json', 'auto')
    .option('--secret <id=ID,src=FILE>', 'a secret for RUN --mount=type=secret; repeatable', collect, [])
    .option('--compression <gzip|zstd>', 'how the new layers are compressed (zstd: the OCI tar+zstd media type; base image layers stay as they are)', 'gzip');
  addClientOptions(cmd);
  cmd.action((context: string, flags: BuildFlags, c: Command) => build(context, flags, c));

  // `docker builder prune`'s counterpart: the build cache alone (its entries, cache mounts and
  // context digests); the layers its entries named go with the next `stevedore prune`.
  program
    .command('builder')
    .description('manage the build cache')
    .command('prune')
    .description('remove the build cache: later builds run every step again')
    .option('-q, --quiet', 'print nothing')
    .action(async (flags: { quiet?: boolean }, c: Command) => {
      const { removeBuildCache } = await import('../builder/build-cache.js');
      await removeBuildCache(rootOf(c));
      if (!flags.quiet) process.stdout.write('Build cache removed\n');
    });
}
