// Registry client commands: pull, push, copy, tags, catalog, inspect, digest, delete. Only their
// options live here: what they do is in client-actions.ts (copies) and client-query-actions.ts
// (the rest), loaded when one of them runs (the client is most of a command's start-up).
import type { Command } from 'commander';
import type { CopyFlags } from './client-actions.js';
import { addClientOptions, type ClientFlags } from './client-options.js';

const actions = () => import('./client-actions.js');
const queries = () => import('./client-query-actions.js');

export function registerClientCommands(program: Command): void {
  const copyOpts = (cmd: Command) =>
    addClientOptions(cmd)
      .option('--platform <os/arch[/variant]>', 'platform to pick from a multi-platform image (default: this host)')
      .option('-a, --all-platforms', 'copy every platform of a multi-platform image')
      .option('-j, --concurrency <n>', 'blobs transferred at once (default 4)');

  copyOpts(program.command('pull').description('pull an image from a registry into the local store (or, with -o, into a layout or archive)').argument('<reference>'))
    .option('-o, --output <location>', 'where to put it instead of the local store: oci:DIR[:TAG] or docker-archive:FILE[:NAME:TAG]')
    .action(async (ref: string, flags: CopyFlags & { output?: string }, cmd: Command) => (await actions()).pullCommand(ref, flags, cmd));

  copyOpts(
    program
      .command('push')
      .description('push a local image (docker push), or an OCI layout or docker archive, to a registry')
      .argument('<source>', 'a local image (name or id), oci:DIR[:TAG] or docker-archive:FILE[:NAME:TAG]')
      .argument('[reference]', 'where to push it (default: the local image\'s own name)'),
  ).action(async (src: string, ref: string | undefined, flags: CopyFlags, cmd: Command) => (await actions()).pushCommand(src, ref, flags, cmd));

  copyOpts(program.command('copy').description('copy an image between registries and layouts, digests preserved').argument('<source>').argument('<destination>'))
    .action(async (src: string, dst: string, flags: CopyFlags) => (await actions()).copyCommand(src, dst, flags));

  addClientOptions(program.command('tags').description('list the tags of a repository').argument('<repository>'))
    .action(async (repo: string, flags: ClientFlags) => (await queries()).tagsCommand(repo, flags));

  addClientOptions(program.command('catalog').description('list the repositories of a registry').argument('<registry>'))
    .action(async (registry: string, flags: ClientFlags) => (await queries()).catalogCommand(registry, flags));

  addClientOptions(
    program
      .command('inspect')
      .description('show a local container or image as JSON; else the manifest (or index) of a registry image, and its config')
      .argument('<reference>'),
  )
    .option('--raw', 'print the manifest exactly as the registry stores it (registry images only)')
    .action(async (refText: string, flags: ClientFlags & { raw?: boolean }, cmd: Command) => (await queries()).inspectCommand(refText, flags, cmd));

  addClientOptions(program.command('digest').description('print the digest of an image manifest').argument('<reference>'))
    .action(async (refText: string, flags: ClientFlags) => (await queries()).digestCommand(refText, flags));

  addClientOptions(program.command('delete').description('delete an image manifest (by tag: the tag only, by digest: the manifest)').argument('<reference>'))
    .action(async (refText: string, flags: ClientFlags) => (await queries()).deleteCommand(refText, flags));
}
