// `stevedore compose`: several services from a compose file. The model (files, interpolation,
// merge, extends, profiles, checks) and the orchestration (planner, executor) are compose/; this
// file maps the command line onto them and prints.
import type { Command } from 'commander';
import { Writable } from 'node:stream';
import type { ComposeExecutor, ProjectContainer } from '../compose/executor.js';
import type { Project } from '../compose/model.js';

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

/** Exit status of a compose file that cannot be used (as before: `config` scripts rely on it). */
const EXIT_MODEL = 15;

function failLine(err: unknown): string {
  return ((err as Error)?.message ?? String(err)).split('\n')[0]!;
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
    const { engineWarnings } = await import('../compose/container-spec.js');
    const engine = Object.values(loaded.project.services).flatMap((s) => engineWarnings(loaded.project, s));
    for (const w of [...loaded.warnings, ...engine]) process.stderr.write(`WARN ${w}\n`);
    return loaded;
  } catch (err) {
    if (err instanceof ComposeError) {
      process.stderr.write(`stevedore compose: ${err.message}\n`);
      process.exit(EXIT_MODEL);
    }
    throw err;
  }
}

/**
 * Runs a command on the project's executor: every failure is one line (`stevedore compose: …`,
 * STEVEDORE_DEBUG=1 adds the stack) and exit status 1.
 */
async function withProject(compose: Command, cmd: Command, fn: (x: ComposeExecutor, project: Project) => Promise<number | void>): Promise<void> {
  const { project, disabled } = await load(compose.opts<ProjectFlags>());
  try {
    if (process.getuid?.() !== 0) throw new Error('compose needs root (containers are made with mounts, namespaces and cgroups): run it with sudo');
    const [{ ComposeExecutor }, { StoreImageProvider }, { ImageStore }, { rootOf }] = await Promise.all([
      import('../compose/executor.js'),
      import('../engine/image-provider.js'),
      import('../engine/store/image-store.js'),
      import('./engine-root.js'),
    ]);
    const root = rootOf(cmd);
    const client = async () => (await import('./client-options.js')).clientFrom({});
    const x = new ComposeExecutor(project, { root, provider: new StoreImageProvider(new ImageStore(root), client), client, say: (l) => process.stderr.write(` ${l}\n`), disabled });
    const code = await fn(x, project);
    if (typeof code === 'number') process.exitCode = code;
  } catch (err) {
    process.stderr.write(`stevedore compose: ${failLine(err)}\n`);
    if (process.env.STEVEDORE_DEBUG) process.stderr.write(`${(err as Error)?.stack}\n`);
    process.exitCode = 1;
  }
}

/** rmi and push as the image commands do them (down --rmi, compose push). */
const imageActions = () => import('./engine-image-actions.js');

const COLOURS = [36, 33, 32, 35, 34, 96, 93, 92, 95, 94];

/** A stream that writes each line of a container's output after `name |` (coloured on a terminal). */
function prefixed(name: string, width: number, colour: number, out: NodeJS.WriteStream, plain: boolean): Writable {
  const tty = out.isTTY && !process.env.NO_COLOR;
  const prefix = plain ? '' : tty ? `\x1b[${colour}m${name.padEnd(width)} |\x1b[0m ` : `${name.padEnd(width)} | `;
  let partial = '';
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      const text = partial + chunk.toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop()!;
      const block = lines.map((l) => `${prefix}${l}\n`).join('');
      if (block && !out.write(block)) out.once('drain', () => done());
      else done();
    },
    final(done) {
      if (partial) out.write(`${prefix}${partial}\n`);
      done();
    },
  });
}

async function showLogs(x: ComposeExecutor, containers: ProjectContainer[], o: { follow?: boolean; tail?: string; timestamps?: boolean; logPrefix?: boolean }): Promise<void> {
  const { writeLogs } = await import('../engine/containers/logs.js');
  const width = Math.max(0, ...containers.map((c) => c.existing.name.length));
  let tail: number | undefined;
  if (o.tail !== undefined && o.tail !== 'all') {
    tail = Number(o.tail);
    if (!Number.isInteger(tail) || tail < 0) throw new Error(`invalid --tail ${JSON.stringify(o.tail)}: a number or all`);
  }
  await Promise.all(
    containers.map(async (c, i) => {
      const colour = COLOURS[i % COLOURS.length]!;
      const stdout = prefixed(c.existing.name, width, colour, process.stdout, o.logPrefix === false);
      const stderr = prefixed(c.existing.name, width, colour, process.stderr, o.logPrefix === false);
      await writeLogs(x.ctx, c.record.id, { stdout, stderr }, { follow: !!o.follow, timestamps: !!o.timestamps, ...(tail !== undefined ? { tail } : {}) });
      await Promise.all([new Promise<void>((r) => stdout.end(r)), new Promise<void>((r) => stderr.end(r))]);
    }),
  );
}

function parseScale(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) {
    const m = /^([^=]+)=(\d+)$/.exec(v);
    if (!m) throw new Error(`invalid --scale ${JSON.stringify(v)}: SERVICE=NUMBER`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

function pick(all: ProjectContainer[], service: string, index = 1): ProjectContainer {
  const c = all.find((p) => p.existing.service === service && p.existing.number === index) ?? (index === 1 ? all.find((p) => p.existing.service === service) : undefined);
  if (!c) throw new Error(`service ${service} has no container${index !== 1 ? ` number ${index}` : ''}: run compose up first`);
  return c;
}

function statusText(r: ProjectContainer['record']): string {
  if (r.state === 'running' && r.hostConfig.restarting) return `Restarting (${r.exitCode ?? 'unknown'})`;
  if (r.state === 'running') return `Up${r.health ? ` (${r.health.Status === 'starting' ? 'health: starting' : r.health.Status})` : ''}`;
  if (r.state === 'exited') return `Exited (${r.exitCode ?? 'unknown'})`;
  return 'Created';
}

export function registerComposeCommands(program: Command): void {
  const compose = program
    .command('compose')
    .description('run several services together from a compose file (compose.yaml, docker-compose.yml)')
    .option('-f, --file <file>', 'compose file (repeatable; later files override earlier ones)', collect)
    .option('-p, --project-name <name>', 'project name (default: the top-level name, else the directory name)')
    .option('--project-directory <dir>', 'where the compose files and .env are looked for (default: the current directory)')
    .option('--env-file <file>', 'variables for interpolation (repeatable; default: .env)', collect)
    .option('--profile <profile>', 'enable services of this profile (repeatable)', collect)
    .enablePositionalOptions();

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

  compose
    .command('up')
    .description('create and start the services (build or pull their images first)')
    .argument('[services...]')
    .option('-d, --detach', 'start in the background and return')
    .option('--build', 'build images before starting')
    .option('--no-build', 'never build; fail when an image is missing')
    .option('--force-recreate', 'recreate the containers even when nothing changed')
    .option('--no-recreate', 'keep existing containers even when they changed')
    .option('--no-deps', 'do not start the services these depend on')
    .option('--no-start', 'create the containers, do not start them')
    .option('-V, --renew-anon-volumes', "recreated containers get new anonymous volumes instead of the old containers' ones")
    .option('--scale <service=n>', 'run N replicas of the service (over deploy.replicas); repeatable', collect, [])
    .option('--wait', 'wait until the services are running and healthy (implies -d)')
    .option('--remove-orphans', "remove containers of services the compose file no longer has")
    .action(async (services: string[], o: { detach?: boolean; build?: boolean; forceRecreate?: boolean; recreate?: boolean; deps?: boolean; start?: boolean; scale: string[]; wait?: boolean; removeOrphans?: boolean; renewAnonVolumes?: boolean }, cmd: Command) => {
      await withProject(compose, cmd, async (x) => {
        const attached = !(o.detach || o.wait || o.start === false);
        // Attached: Ctrl-C (from the moment up begins) stops the services (docker compose up).
        let stopping = false;
        const stop = () => {
          if (stopping) process.exit(130);
          stopping = true;
          process.stderr.write('Gracefully stopping... (press Ctrl+C again to force)\n');
          void x.inStopOrder(services.length ? services : undefined, (c) => x.stop(c)).finally(() => process.exit(130));
        };
        if (attached) {
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        }
        // commander: --no-build sets build false; --build sets it true.
        await x.up({
          services,
          ...(o.build === true ? { build: true } : o.build === false ? { noBuild: true } : {}),
          forceRecreate: !!o.forceRecreate,
          noRecreate: o.recreate === false,
          noDeps: o.deps === false,
          noStart: o.start === false,
          scale: parseScale(o.scale),
          wait: !!o.wait,
          removeOrphans: !!o.removeOrphans,
          renewAnonVolumes: !!o.renewAnonVolumes,
        });
        if (!attached || stopping) return;
        // The services' output until they all exit.
        await showLogs(x, await x.containers({ services }), { follow: true });
      });
    });

  compose
    .command('down')
    .description('stop and remove the containers and networks (with -v the volumes too)')
    .option('-v, --volumes', 'also remove the named volumes of the file and anonymous volumes')
    .option('--rmi <type>', 'also remove images: local (built ones without an image name) or all')
    .option('--remove-orphans', "also remove containers of services the file no longer has")
    .action(async (o: { volumes?: boolean; rmi?: string; removeOrphans?: boolean }, cmd: Command) => {
      await withProject(compose, cmd, async (x) => {
        if (o.rmi !== undefined && o.rmi !== 'local' && o.rmi !== 'all') throw new Error(`invalid --rmi ${JSON.stringify(o.rmi)}: local or all`);
        const removeImage = async (ref: string) => {
          const { removeImages } = await imageActions();
          await removeImages(x.env.provider.store, [ref], false, true);
          x.env.say(`Image ${ref} Removed`);
        };
        await x.down({ volumes: !!o.volumes, ...(o.rmi ? { rmi: o.rmi as 'local' | 'all', removeImage } : {}), removeOrphans: !!o.removeOrphans });
      });
    });

  compose
    .command('ps')
    .description("list the project's containers")
    .argument('[services...]')
    .option('-a, --all', 'also stopped containers')
    .option('-q, --quiet', 'only ids')
    .option('--services', 'only the service names')
    .option('--format <format>', 'table or json', 'table')
    .action(async (services: string[], o: { all?: boolean; quiet?: boolean; services?: boolean; format: string }, cmd: Command) => {
      await withProject(compose, cmd, async (x) => {
        const [{ formatBindings }, { table }] = await Promise.all([import('../engine/network/ports.js'), import('./table.js')]);
        const list = (await x.containers({ services })).filter((c) => o.all || c.record.state === 'running');
        if (o.quiet) return void process.stdout.write(list.map((c) => `${c.record.id}\n`).join(''));
        if (o.services) return void process.stdout.write([...new Set(list.map((c) => c.existing.service))].map((s) => `${s}\n`).join(''));
        const rows = list.map((c) => ({
          ID: c.record.id,
          Name: c.record.name,
          Image: c.record.image.reference ?? c.record.image.configDigest,
          Command: [c.record.path, ...c.record.args].join(' '),
          Project: x.project.name,
          Service: c.existing.service,
          State: c.record.state,
          Health: c.record.health?.Status ?? '',
          ExitCode: c.record.exitCode ?? 0,
          Status: statusText(c.record),
          Publishers: (c.record.state === 'running' ? (c.record.network?.ports ?? []) : []).map((p) => ({ URL: p.hostIP || '0.0.0.0', TargetPort: p.containerPort, PublishedPort: p.hostPort, Protocol: p.protocol })),
          Ports: c.record.state === 'running' ? formatBindings(c.record.network?.ports ?? []) : '',
        }));
        if (o.format === 'json') return void process.stdout.write(`${JSON.stringify(rows)}\n`);
        if (o.format !== 'table') throw new Error(`invalid --format ${JSON.stringify(o.format)}: table or json`);
        process.stdout.write(table([['NAME', 'IMAGE', 'COMMAND', 'SERVICE', 'STATUS', 'PORTS'], ...rows.map((r) => [r.Name, r.Image, JSON.stringify(r.Command.length > 20 ? `${r.Command.slice(0, 19)}…` : r.Command), r.Service, r.Status, r.Ports])]));
      });
    });

  compose
    .command('logs')
    .description("the services' output, each line after its container's name")
    .argument('[services...]')
    .option('-f, --follow', 'follow the output')
    .option('--tail <n>', 'only the last N lines of each container (or all)')
    .option('-t, --timestamps', 'show timestamps')
    .option('--no-log-prefix', 'no container name before each line')
    .action(async (services: string[], o: { follow?: boolean; tail?: string; timestamps?: boolean; logPrefix?: boolean }, cmd: Command) => {
      await withProject(compose, cmd, async (x) => showLogs(x, await x.containers({ services }), o));
    });

  compose
    .command('build')
    .description('build the services that have a build section')
    .argument('[services...]')
    .option('--no-cache', 'do not use the build cache')
    .option('--pull', 'always pull base images')
    .action(async (services: string[], o: { cache: boolean; pull?: boolean }, cmd: Command) => {
      await withProject(compose, cmd, async (x, project) => {
        const { selectedServices } = await import('../compose/plan.js');
        for (const s of selectedServices(project, services, true)) await x.build(project.services[s]!, { noCache: !o.cache, ...(o.pull ? { pull: true } : {}) });
      });
    });

  compose
    .command('pull')
    .description('pull the images of the services (those with only a build section are skipped)')
    .argument('[services...]')
    .option('--ignore-buildable', 'skip services that have a build section', true)
    .action(async (services: string[], _o: unknown, cmd: Command) => {
      await withProject(compose, cmd, async (x, project) => {
        const { selectedServices } = await import('../compose/plan.js');
        for (const s of selectedServices(project, services, true)) {
          const svc = project.services[s]!;
          if (svc.image && !svc.build) await x.pull(svc);
        }
      });
    });

  compose
    .command('push')
    .description('push the images of the services that are built and have an image name')
    .argument('[services...]')
    .action(async (services: string[], _o: unknown, cmd: Command) => {
      await withProject(compose, cmd, async (_x, project) => {
        const [{ selectedServices }, { pushFromStore }] = await Promise.all([import('../compose/plan.js'), imageActions()]);
        for (const s of selectedServices(project, services, true)) {
          const svc = project.services[s]!;
          if (svc.build && svc.image) await pushFromStore(svc.image, undefined, {} as never, cmd);
        }
      });
    });

  compose
    .command('exec')
    .description("run a command in a service's running container")
    .argument('<service>')
    .argument('<command...>')
    .passThroughOptions()
    .option('-T, --no-tty', 'no terminal (the default when standard input is not a terminal)')
    .option('-e, --env <name=value>', 'set an environment variable', collect, [])
    .option('-u, --user <user>', 'run as this user')
    .option('-w, --workdir <dir>', 'working directory')
    .option('--index <n>', 'which replica (default 1)', '1')
    .action(async (service: string, command: string[], o: { tty: boolean; env: string[]; user?: string; workdir?: string; index: string }, cmd: Command) => {
      await withProject(compose, cmd, async (x) => {
        const { execInContainer } = await import('../engine/containers/lifecycle.js');
        const c = pick(await x.containers({ services: [service] }), service, Number(o.index));
        const tty = o.tty && !!process.stdin.isTTY;
        return execInContainer(x.ctx, c.record.id, command, {
          interactive: tty,
          tty,
          env: o.env,
          ...(o.workdir ? { cwd: o.workdir } : {}),
          ...(o.user ? { user: o.user } : {}),
          onError: (m) => process.stderr.write(`stevedore compose: ${m}\n`),
        });
      });
    });

  compose
    .command('run')
    .description('run a one-off command in a new container of a service (its dependencies started first)')
    .argument('<service>')
    .argument('[command...]')
    .passThroughOptions()
    .option('--rm', 'remove the container when it exits')
    .option('-d, --detach', 'run in the background')
    .option('--name <name>', 'the container name')
    .option('-e, --env <name=value>', 'set an environment variable', collect, [])
    .option('-T, --no-tty', 'no terminal')
    .option('--no-deps', 'do not start the services it depends on')
    .action(async (service: string, command: string[], o: { rm?: boolean; detach?: boolean; name?: string; env: string[]; tty: boolean; deps: boolean }, cmd: Command) => {
      await withProject(compose, cmd, async (x, project) => {
        const [{ startOrder }, { randomHex }, { runAttached }, { selfId }] = await Promise.all([
          import('../compose/order.js'),
          import('../engine/containers/random-id.js'),
          import('../engine/containers/lifecycle.js'),
          import('../engine/process-info.js'),
        ]);
        const svc = project.services[service];
        if (!svc) throw new Error(`no such service: ${service}`);
        const deps = startOrder(project, [service]).filter((s) => s !== service);
        if (o.deps && deps.length) await x.up({ services: deps, noDeps: true });
        await x.ensureImages([service], {});
        await x.ensureNetworks([service]);
        await x.ensureVolumes([service]);
        await x.waitDependencies(svc);
        const name = o.name ?? `${project.name}-${service}-run-${randomHex(6)}`;
        const record = await x.createReplica(svc, 1, { name, ...(command.length ? { command } : {}) }, (c) => {
          c.autoRemove = !!o.rm;
          c.detached = !!o.detach;
          c.terminal = o.tty && !o.detach && !!process.stdin.isTTY;
          c.env.push(...o.env);
          if (!o.detach) c.owner = selfId();
        });
        if (o.detach) {
          await x.startRecord(record);
          process.stdout.write(`${name}\n`);
          return;
        }
        return runAttached(x.ctx, record, { interactive: !!process.stdin.isTTY && o.tty, tty: o.tty && !!process.stdin.isTTY });
      });
    });

  for (const [name, description] of [
    ['start', 'start the stopped containers of the services'],
    ['stop', 'stop the running containers of the services (reverse start order)'],
    ['restart', 'stop, then start, the containers of the services'],
  ] as const) {
    compose
      .command(name)
      .description(description)
      .argument('[services...]')
      .option('-t, --timeout <seconds>', 'seconds to wait before SIGKILL (default: stop_grace_period, else 10)')
      .action(async (services: string[], o: { timeout?: string }, cmd: Command) => {
        await withProject(compose, cmd, async (x) => {
          const only = services.length ? services : undefined;
          const timeout = o.timeout === undefined ? undefined : Number(o.timeout);
          if (timeout !== undefined && !(Number.isFinite(timeout) && timeout >= 0)) throw new Error(`invalid --timeout ${JSON.stringify(o.timeout)}: seconds`);
          if (name !== 'start') await x.inStopOrder(only, (c) => x.stop(c, timeout));
          if (name !== 'stop') await x.start(only);
        });
      });
  }

  compose
    .command('kill')
    .description('send a signal to the running containers of the services')
    .argument('[services...]')
    .option('-s, --signal <signal>', 'the signal', 'SIGKILL')
    .action(async (services: string[], o: { signal: string }, cmd: Command) => {
      await withProject(compose, cmd, async (x) => x.inStopOrder(services.length ? services : undefined, (c) => x.kill(c, o.signal)));
    });

  compose
    .command('rm')
    .description('remove the stopped containers of the services')
    .argument('[services...]')
    .option('-f, --force', 'do not ask (nothing is asked: accepted for docker compose scripts)')
    .option('-s, --stop', 'stop running containers first')
    .option('-v, --volumes', 'also remove their anonymous volumes')
    .action(async (services: string[], o: { stop?: boolean; volumes?: boolean }, cmd: Command) => {
      await withProject(compose, cmd, async (x) => {
        await x.inStopOrder(services.length ? services : undefined, async (c) => {
          if (c.running && !o.stop) return;
          await x.remove(c, !!o.volumes);
        }, { oneoff: true });
      });
    });

  compose
    .command('top')
    .description('the processes of the running containers')
    .argument('[services...]')
    .action(async (services: string[], _o: unknown, cmd: Command) => {
      await withProject(compose, cmd, async (x) => {
        const { containerTop } = await import('../engine/containers/stats.js');
        for (const c of (await x.containers({ services })).filter((p) => p.record.state === 'running')) {
          process.stdout.write(`${c.existing.name}\n${await containerTop(x.ctx, c.record.id, [])}\n`);
        }
      });
    });

  compose
    .command('images')
    .description('the images the containers use')
    .argument('[services...]')
    .action(async (services: string[], _o: unknown, cmd: Command) => {
      await withProject(compose, cmd, async (x) => {
        const { table } = await import('./table.js');
        const rows = (await x.containers({ services })).map((c) => [c.existing.name, c.record.image.reference ?? '<none>', c.record.image.configDigest.slice(7, 19)]);
        process.stdout.write(table([['CONTAINER', 'IMAGE', 'IMAGE ID'], ...rows]));
      });
    });

  compose
    .command('port')
    .description('the host address a container port of a service is published on')
    .argument('<service>')
    .argument('<port>', 'PORT or PORT/PROTOCOL')
    .option('--index <n>', 'which replica (default 1)', '1')
    .option('--protocol <proto>', 'tcp or udp', 'tcp')
    .action(async (service: string, port: string, o: { index: string; protocol: string }, cmd: Command) => {
      await withProject(compose, cmd, async (x) => {
        const c = pick(await x.containers({ services: [service] }), service, Number(o.index));
        const [p, proto = o.protocol] = port.split('/');
        const b = (c.record.state === 'running' ? (c.record.network?.ports ?? []) : []).find((q) => String(q.containerPort) === p && q.protocol === proto);
        if (!b) throw new Error(`no port ${p}/${proto} of ${c.existing.name} is published`);
        process.stdout.write(`${b.hostIP || '0.0.0.0'}:${b.hostPort}\n`);
      });
    });
}
