// Local image commands of the engine: images, rmi, tag, save, load, history, image prune, system df,
// prune. Only their options live here: what they do is in engine-image-actions.ts, loaded when one
// of them runs, so `stevedore --help` and the other commands do not load the store and the client.
import type { Command } from 'commander';
import { rootOf } from './engine-root.js';

const actions = () => import('./engine-image-actions.js');

export function registerEngineImageCommands(program: Command): void {
  program
    .command('images')
    .description('list the images in the local store')
    .option('-q, --quiet', 'only image ids')
    .option('--json', 'print the list as JSON')
    .option('-f, --filter <key=value>', 'dangling=true|false, reference=PATTERN (globs), label=KEY[=VALUE] (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--format <template>', 'a Go-style template: {{.Repository}} {{.Tag}} {{.ID}} {{.Digest}} {{.CreatedSince}} {{.Size}}, or "json"')
    .action(async (flags: { quiet?: boolean; json?: boolean; filter: string[]; format?: string }, cmd: Command) => (await import('./engine-images-list.js')).listImages(rootOf(cmd), flags));

  program
    .command('rmi')
    .description('remove local images (untag; delete when no name and no container is left)')
    .argument('<image...>')
    .option('-f, --force', 'remove every name of an image given by id, and untag images containers use')
    .option('-q, --quiet', 'print nothing')
    .action(async (images: string[], flags: { force?: boolean; quiet?: boolean }, cmd: Command) => (await actions()).removeImagesCommand(cmd, images, flags));

  program
    .command('tag')
    .description('give a local image another name')
    .argument('<source>')
    .argument('<target>')
    .action(async (src: string, dst: string, _flags: unknown, cmd: Command) => (await actions()).tagImage(cmd, src, dst));

  program
    .command('save')
    .description('write a local image to a docker-archive tarball (docker load reads it)')
    .option('-o, --output <file>', 'the tar file to write (default: standard output)')
    .argument('<image...>')
    .action(async (images: string[], flags: { output?: string }, cmd: Command) => (await actions()).saveCommand(cmd, images, flags));

  program
    .command('load')
    .description('load the images of a docker-archive tarball (docker save output) into the local store')
    .option('-i, --input <file>', 'the tar file to read (default: standard input)')
    .option('-q, --quiet', 'print only image ids')
    .action(async (flags: { input?: string; quiet?: boolean }, cmd: Command) => (await actions()).loadCommand(cmd, flags));

  program
    .command('history')
    .description('show the steps that made an image, newest first')
    .argument('<image>')
    .option('--no-trunc', 'do not shorten ids and commands')
    .option('-q, --quiet', 'only ids')
    .option('--json', 'print the steps as JSON')
    .action(async (image: string, flags: { trunc: boolean; quiet?: boolean; json?: boolean }, cmd: Command) => (await actions()).historyCommand(cmd, image, flags));

  const image = program.command('image').description('manage local images');
  image
    .command('prune')
    .description('remove unnamed images no container uses (-a: every image no container uses), and what only they needed')
    .option('-a, --all', 'every image no container uses, not only unnamed ones')
    .option('-f, --force', 'do not ask (there is no prompt: accepted for docker\'s muscle memory)')
    .action(async (flags: { all?: boolean }, cmd: Command) => (await actions()).imagePrune(cmd, flags));

  program
    .command('system')
    .description('the engine as a whole')
    .command('df')
    .description('disk used by images, containers, volumes and build cache, and what can be reclaimed')
    .option('--json', 'print the figures as JSON')
    .action(async (flags: { json?: boolean }, cmd: Command) => (await actions()).systemDfCommand(cmd, flags));

  program
    .command('prune')
    .description('remove stopped containers, then unnamed images no container uses, and blobs and layers no image needs')
    .option('-q, --quiet', 'print nothing')
    .action(async (flags: { quiet?: boolean }, cmd: Command) => (await actions()).pruneAll(cmd, flags));
}
