// What the copying client commands do (pull, push, copy); the query commands are in
// client-query-actions.ts. Their options are in client-commands.ts, which loads this module only
// when one of them runs.
import type { Command } from 'commander';
import {
  ClientError,
  copyImage,
  describeDockerArchive,
  openDestination,
  openSource,
  parseLocation,
  parsePlatform,
  type CopyOptions,
  type Location,
} from '../client/index.js';
import { formatReference } from '../oci/index.js';
import type { ClientFlags } from './client-options.js';
import { registryRef } from './client-query-actions.js';
import { concurrencyOf, transfer } from './transfer.js';

export interface CopyFlags extends ClientFlags {
  platform?: string;
  allPlatforms?: boolean;
  concurrency?: string;
}

function describe(loc: Location): string {
  if (loc.kind === 'oci') return `oci:${loc.dir}${loc.tag ? `:${loc.tag}` : ''}`;
  if (loc.kind === 'docker-archive') return describeDockerArchive(loc.file, loc);
  return formatReference(loc.ref);
}

async function runCopy(srcText: string, dstText: string, flags: CopyFlags, verb: string): Promise<void> {
  const src = parseLocation(srcText);
  let dst = parseLocation(dstText);
  if (dst.kind === 'docker-archive') {
    if (flags.allPlatforms) throw new ClientError(`${dstText}: a docker archive holds one single-platform image; choose it with --platform instead of --all-platforms`);
    // Like `docker save IMAGE`: an archive written from a registry image is tagged with its name unless told otherwise.
    if (!dst.ref && src.kind === 'registry' && src.ref.tag !== undefined) dst = { ...dst, ref: { registry: src.ref.registry, repository: src.ref.repository, tag: src.ref.tag } };
  }
  const opts: CopyOptions = { allPlatforms: flags.allPlatforms };
  if (flags.platform) {
    try {
      opts.platform = parsePlatform(flags.platform);
    } catch (err) {
      throw new ClientError((err as Error).message);
    }
  }
  opts.concurrency = concurrencyOf(flags.concurrency);
  await transfer(flags, opts, describe(dst), verb, async (opener) => {
    const source = openSource(src, opener);
    try {
      const destination = openDestination(dst, opener);
      try {
        return await copyImage(source, destination, opts);
      } finally {
        // Temporary files go; a destination that was not committed discards what it wrote.
        await destination.close?.();
      }
    } finally {
      await source.close?.();
    }
  }, describe(src));
}

/** `pull REF [-o LOCATION]`. */
export async function pullCommand(ref: string, flags: CopyFlags & { output?: string }, cmd: Command): Promise<void> {
  if (flags.output !== undefined) return pullToOutput(ref, { ...flags, output: flags.output });
  if (flags.allPlatforms) throw new ClientError('--all-platforms needs -o: the local store keeps one platform of an image');
  return (await import('./engine-image-actions.js')).pullIntoStore(ref, flags, cmd);
}

/** `pull REF -o LOCATION`: into a layout or archive instead of the local store. */
export function pullToOutput(ref: string, flags: CopyFlags & { output: string }): Promise<void> {
  return runCopy(ref, flags.output, flags, 'Pulled into');
}

/** `push SOURCE [REF]`. */
export async function pushCommand(src: string, ref: string | undefined, flags: CopyFlags, cmd: Command): Promise<void> {
  if (ref !== undefined) registryRef(ref);
  // Like docker: a plain image name is what the local store holds under it.
  if (parseLocation(src).kind === 'registry' && !src.startsWith('docker://')) return (await import('./engine-image-actions.js')).pushFromStore(src, ref, flags, cmd);
  if (ref === undefined) throw new ClientError(`push ${src}: say where to push it (a registry reference)`);
  return pushLayout(src, ref, flags);
}

/** `push oci:DIR|docker-archive:FILE REF`: an OCI layout or a docker archive to a registry. */
export function pushLayout(src: string, ref: string, flags: CopyFlags): Promise<void> {
  registryRef(ref);
  return runCopy(src, ref, flags, 'Pushed');
}

/** `copy SOURCE DESTINATION`. */
export function copyCommand(src: string, dst: string, flags: CopyFlags): Promise<void> {
  return runCopy(src, dst, flags, 'Copied to');
}
