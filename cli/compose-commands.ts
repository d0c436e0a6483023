// `stevedore compose`: several services from a compose file. The model (files, interpolation,
// merge, extends, profiles, checks) is compose/; this file maps the command line onto it.
import type { Command } from 'commander';

interface ProjectFlags {
  file?: string[];
  projectName?: string;
  projectDirectory?: string;
  envFile?: string[];
  profile?: string[];
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

async function load(flags: ProjectFlags) {
  const { loadProject } = await import('../compose/load.js');
  const { ComposeError } = await import('../compose/errors.js');
  try {
    const loaded = loadProject({
      files: flags.file,
      workingDir: flags.projectDirectory,
      projectName: flags.projectName,
      envFiles: flags.envFile,
      profiles: flags.profile,
    });
    for (const w of loaded.warnings) process.stderr.write(`WARN ${w}\n`);
    return loaded;
  } catch (err) {
    if (err instanceof ComposeError) {
      process.stderr.write(`stevedore compose: ${err.message}\n`);
      process.exit(15);
    }
    throw err;
  }
}

export function registerComposeCommands(program: Command): void {
  const compose = program
    .command('compose')
    .description('run several services together from a compose file (compose.yaml, docker-compose.yml)')
    .option('-f, --file <file>', 'compose file (repeatable; later files override earlier ones)', collect)
    .option('-p, --project-name <name>', 'project name (default: the top-level name, else the directory name)')
    .option('--project-directory <dir>', 'where the compose files and .env are looked for (default: the current directory)')
    .option('--env-file <file>', 'variables for interpolation (repeatable; default: .env)', collect)
    .option('--profile <profile>', 'enable services of this profile (repeatable)', collect);

  compose
    .command('config')
    .description('check the compose files and print the resolved model')
    .option('-q, --quiet', 'only check: print nothing, exit 0 when valid')
    .option('--services', 'print the service names, one a line')
    .option('--volumes', 'print the volume names, one a line')
    .option('--format <format>', 'yaml or json', 'yaml')
    .action(async (opts: { quiet?: boolean; services?: boolean; volumes?: boolean; format: string }) => {
      const { project } = await load(compose.opts<ProjectFlags>());
      if (opts.quiet) return;
      if (opts.services) {
        const { startOrder } = await import('../compose/order.js');
        process.stdout.write(startOrder(project).map((s) => `${s}\n`).join(''));
        return;
      }
      if (opts.volumes) {
        process.stdout.write(Object.keys(project.volumes).map((v) => `${v}\n`).join(''));
        return;
      }
      if (opts.format === 'json') {
        const { renderable } = await import('../compose/render.js');
        process.stdout.write(`${JSON.stringify(renderable(project), null, 2)}\n`);
        return;
      }
      if (opts.format !== 'yaml') throw new Error(`unknown format ${JSON.stringify(opts.format)}: use yaml or json`);
      const [{ stringify }, { renderable }] = await Promise.all([import('yaml'), import('../compose/render.js')]);
      process.stdout.write(stringify(renderable(project), { aliasDuplicateObjects: false }));
    });
}
