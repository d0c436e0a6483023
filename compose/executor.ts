// Carries compose plans out against the engine, in-process: networks, volumes, images (built or
// pulled), then each service's replicas in depends_on order, waiting for each dependency's
// condition first. `down`, `stop`, `start` and friends act on the containers the compose labels
// name. Every container operation is the engine's own (create, startDetached, stop, remove).
import { resolve } from 'node:path';
import type { Client } from '../client/index.js';
import { Builder, readDockerfile } from '../builder/build.js';
import { openContext } from '../builder/build-context.js';
import { makeProgress } from '../builder/progress.js';
import { createContainer } from '../engine/containers/create-container.js';
import type { ContainerRecord } from '../engine/containers/container-store.js';
import { EngineContext } from '../engine/containers/engine-context.js';
import {
  ContainerStateError,
  killContainer,
  listContainers,
  prepareStart,
  removeContainer,
  startDetached,
  stopContainer,
  waitContainer,
  waitHealth,
} from '../engine/containers/lifecycle.js';
import { formatReference, parseReference } from '../oci/index.js';
import { MONITOR_SCRIPT } from '../engine/containers/monitor-script.js';
import { removeVolume } from '../engine/containers/volume-use.js';
import type { StoreImageProvider } from '../engine/image-provider.js';
import { lookupImage } from '../engine/image-lookup.js';
import { removeNetwork } from '../engine/network/container-network.js';
import { NetworkStore } from '../engine/network/network-store.js';
import { VolumeError, VolumeStore } from '../engine/volumes/volume-store.js';
import { mountsOf } from '../engine/containers/container-mounts.js';
import { carryAnonymousVolumes } from './anonymous-volumes.js';
import { containerSpec, imageName } from './container-spec.js';
import { ComposeError } from './errors.js';
import { LABEL, readLabels } from './labels.js';
import type { Project, Service } from './model.js';
import { imageAction, planUp, selectedServices, stopOrder, type Existing, type UpOptions } from './plan.js';

export interface ComposeEnv {
  root: string;
  provider: StoreImageProvider;
  client: () => Promise<Client>;
  /** Progress lines for the user (stderr). */
  say: (line: string) => void;
  /** Services of the file the active profiles leave out (their containers are no orphans). */
  disabled?: string[];
}

export interface ProjectContainer {
  record: ContainerRecord;
  existing: Existing;
}

export class ComposeExecutor {
  readonly ctx: EngineContext;
  constructor(
    readonly project: Project,
    readonly env: ComposeEnv,
  ) {
    this.ctx = new EngineContext(env.root);
  }

  /** The project's containers (one-off `run` containers only with oneoff), as the engine has them now. */
  async containers(opts: { oneoff?: boolean; services?: string[] } = {}): Promise<ProjectContainer[]> {
    const out: ProjectContainer[] = [];
    for (const r of await listContainers(this.ctx)) {
      const l = readLabels(r.labels);
      if (!l || l.project !== this.project.name) continue;
      if (l.oneoff && !opts.oneoff) continue;
      if (opts.services?.length && !opts.services.includes(l.service)) continue;
      out.push({
        record: r,
        existing: {
          id: r.id,
          name: r.name,
          service: l.service,
          number: l.number,
          ...(l.configHash ? { configHash: l.configHash } : {}),
          imageId: r.image.configDigest,
          running: r.state === 'running',
          oneoff: l.oneoff,
        },
      });
    }
    return out.sort((a, b) => a.existing.service.localeCompare(b.existing.service) || a.existing.number - b.existing.number);
  }

  // ---- images ---------------------------------------------------------------------------------

  private async imageId(ref: string): Promise<string | undefined> {
    return lookupImage(await this.env.provider.store.state(), ref)?.record.config;
  }

  /** Builds every selected service that has a build section (`compose build`, `up --build`). */
  async build(service: Service, opts: { noCache?: boolean; pull?: boolean } = {}): Promise<void> {
    const b = service.build;
    if (!b) return;
    if (/^[a-z]+:\/\//i.test(b.context)) throw new ComposeError(`services.${service.name}.build.context`, 'a remote context is not supported');
    const tag = imageName(this.project, service);
    this.env.say(`Building ${service.name} (${tag})`);
    const root = this.env.root;
    const ctx = await openContext(b.context, process.stdin, `${root}/builder/tmp`);
    try {
      const df = b.dockerfile_inline !== undefined ? { text: b.dockerfile_inline, name: 'Dockerfile' } : await readDockerfile(ctx.dir, b.dockerfile);
      const builder = new Builder({
        root,
        store: this.env.provider.store,
        contextDir: ctx.dir,
        ...(ctx.ignore ? { ignore: ctx.ignore } : {}),
        dockerfileText: df.text,
        dockerfileName: df.name,
        tags: [tag, ...(b.tags ?? [])].map((t) => formatReference(parseReference(t))),
        buildArgs: new Map(Object.entries(b.args)),
        ...(b.target ? { target: b.target } : {}),
        labels: b.labels,
        noCache: !!(opts.noCache ?? b.no_cache),
        pull: !!(opts.pull ?? b.pull),
        network: b.network === 'none' ? 'none' : 'host',
        // RUN --mount=type=secret,id=NAME reads the top-level secret's file (other sources: not supported).
        secrets: new Map((b.secrets ?? []).flatMap((s) => {
          const file = this.project.secrets[s.source]?.file;
          return file ? [[s.target ?? s.source, resolve(this.project.workingDir, file)] as [string, string]] : [];
        })),
        progress: makeProgress('plain', (t) => process.stderr.write(t)),
        client: this.env.client,
      });
      await builder.run();
    } catch (err) {
      const e = err as Error & { kind?: string };
      if (e.kind) throw new ComposeError(`services.${service.name}.build`, `failed to build: ${e.message.split('\n')[0]}`);
      throw err;
    } finally {
      await ctx.dispose();
    }
  }

  async pull(service: Service): Promise<void> {
    const ref = imageName(this.project, service);
    this.env.say(`Pulling ${service.name} (${ref})`);
    await this.env.provider.pull(ref, { onProgress: (l) => this.env.say(l) });
  }

  /** Builds or pulls what the services need; their image ids. */
  async ensureImages(services: string[], opts: { build?: boolean; noBuild?: boolean }): Promise<Record<string, string>> {
    const ids: Record<string, string> = {};
    for (const name of services) {
      const svc = this.project.services[name]!;
      const ref = imageName(this.project, svc);
      const action = imageAction(svc, (await this.imageId(ref)) !== undefined, opts);
      if (action === 'build') await this.build(svc);
      else if (action === 'pull') await this.pull(svc);
      const id = await this.imageId(ref);
      if (!id) throw new ComposeError(`services.${name}`, `image ${ref} is not in the local store`);
      ids[name] = id;
    }
    return ids;
  }

  // ---- networks and volumes -------------------------------------------------------------------

  private networksUsed(services: string[]): string[] {
    const keys = new Set<string>();
    for (const s of services) {
      const svc = this.project.services[s]!;
      if (svc.network_mode === undefined) for (const k of Object.keys(svc.networks)) keys.add(k);
    }
    return [...keys];
  }

  async ensureNetworks(services: string[]): Promise<void> {
    const nets = new NetworkStore(this.env.root);
    for (const key of this.networksUsed(services)) {
      const n = this.project.networks[key]!;
      await nets.locked(async () => {
        const have = await nets.read(n.name);
        if (have) {
          if (!n.external && have.labels?.[LABEL.project] !== this.project.name) this.env.say(`Network ${n.name} exists but was not created for project ${this.project.name}: it is used as it is`);
          return;
        }
        if (n.external) throw new ComposeError(`networks.${key}`, `external network ${n.name} not found: create it with stevedore network create ${n.name}`);
        const labels = { ...n.labels, [LABEL.project]: this.project.name, [LABEL.network]: key };
        await nets.create(n.name, { ...(n.subnet ? { subnet: n.subnet } : {}), ...(n.gateway ? { gateway: n.gateway } : {}), internal: n.internal, labels });
        this.env.say(`Network ${n.name} Created`);
      });
    }
  }

  async ensureVolumes(services: string[]): Promise<void> {
    const used = new Set(services.flatMap((s) => this.project.services[s]!.volumes.filter((v) => v.type === 'volume' && v.source).map((v) => v.source!)));
    const store = new VolumeStore(this.env.root);
    for (const key of used) {
      const v = this.project.volumes[key]!;
      if (v.external) {
        if (!(await store.get(v.name))) throw new ComposeError(`volumes.${key}`, `external volume ${v.name} not found: create it with stevedore volume create ${v.name}`);
        continue;
      }
      const { created } = await store.create({ name: v.name, labels: { ...v.labels, [LABEL.project]: this.project.name, [LABEL.volume]: key }, reuse: true });
      if (created) this.env.say(`Volume ${v.name} Created`);
    }
  }

  // ---- containers -----------------------------------------------------------------------------

  private async containerOf(ref: string): Promise<string | undefined> {
    const all = await this.containers();
    if (ref.startsWith('service:')) return all.find((c) => c.existing.service === ref.slice(8) && c.existing.running)?.record.id;
    return (await listContainers(this.ctx)).find((r) => r.name === ref || r.id === ref)?.id;
  }

  /** Creates replica `number` of a service (or a one-off container); not started. */
  async createReplica(service: Service, number: number, oneoff?: { name: string; command?: string[] }, tweak?: (o: ReturnType<typeof containerSpec>['create']) => void): Promise<ContainerRecord> {
    let joined: string | undefined;
    const mode = service.network_mode;
    if (mode?.startsWith('service:') || mode?.startsWith('container:')) joined = await this.containerOf(mode.startsWith('service:') ? mode : mode.slice(10));
    const spec = containerSpec(this.project, service, number, { containerOf: () => joined, ...(oneoff ? { oneoff } : {}) });
    tweak?.(spec.create);
    const provider = this.env.provider;
    const use = await provider.hold();
    let record: ContainerRecord;
    try {
      const image = await provider.find(spec.image);
      if (!image) throw new ComposeError(`services.${service.name}`, `image ${spec.image} is not in the local store`);
      record = await createContainer(this.ctx, image, spec.create);
    } finally {
      await use.release();
    }
    if (spec.stopSignal) record = (await this.ctx.store.update(record.id, (r) => void (r.stopSignal = spec.stopSignal))) ?? record;
    return record;
  }

  async startRecord(r: ContainerRecord): Promise<ContainerRecord> {
    const started = await startDetached(this.ctx, r, MONITOR_SCRIPT);
    if (started.state === 'exited' && started.error) throw new ContainerStateError(`container ${r.name} could not start: ${started.error}`);
    return started;
  }

  stopTimeout(service: string): number {
    const svc = this.project.services[service];
    return svc ? containerSpec(this.project, svc, 1).stopTimeoutSeconds : 10;
  }

  /** Waits for what `depends_on` asks of each dependency of a service before it starts. */
  async waitDependencies(service: Service): Promise<void> {
    for (const [dep, d] of Object.entries(service.depends_on)) {
      if (d.condition === 'service_started') continue;
      const replicas = (await this.containers({ services: [dep] })).map((c) => c.record);
      for (const r of replicas) {
        if (d.condition === 'service_healthy') {
          this.env.say(`Container ${r.name} Waiting`);
          if (!r.healthcheck) throw new ComposeError(`services.${service.name}.depends_on.${dep}`, `service_healthy, but ${dep} has no health check`);
          await waitHealth(this.ctx, r.id, 'healthy').catch((err: Error) => {
            throw new ComposeError(`services.${service.name}.depends_on.${dep}`, `dependency failed to start: ${err.message}`);
          });
          this.env.say(`Container ${r.name} Healthy`);
        } else {
          const code = await waitContainer(this.ctx, r.id);
          if (code !== 0) throw new ComposeError(`services.${service.name}.depends_on.${dep}`, `service ${dep} did not complete successfully: container ${r.name} exited with ${code}`);
          this.env.say(`Container ${r.name} Exited`);
        }
      }
    }
  }

  /** `up`: the plan, carried out service by service in start order. */
  async up(opts: UpOptions & { build?: boolean; noBuild?: boolean; wait?: boolean; removeOrphans?: boolean; noStart?: boolean; renewAnonVolumes?: boolean }): Promise<void> {
    const services = selectedServices(this.project, opts.services, opts.noDeps);
    const images = await this.ensureImages(services, opts);
    await this.ensureNetworks(services);
    await this.ensureVolumes(services);
    const plan = planUp(this.project, (await this.containers()).map((c) => c.existing), images, opts);
    const orphans = plan.orphans.filter((o) => !this.env.disabled?.includes(o.service));
    if (orphans.length) {
      if (opts.removeOrphans) for (const o of orphans) await this.remove(o, true);
      else this.env.say(`Found orphan containers (${orphans.map((o) => o.name).join(', ')}) for this project; remove them with --remove-orphans`);
    }
    for (const sp of plan.services) {
      const svc = this.project.services[sp.service]!;
      const toStart: ContainerRecord[] = [];
      for (const step of sp.steps) {
        if (step.kind === 'remove') await this.remove(step.container, true);
        else if (step.kind === 'keep') this.env.say(`Container ${step.container.name} Running`);
        else if (step.kind === 'start') toStart.push((await this.ctx.store.read(step.container.id))!);
        else {
          let carried: ReturnType<typeof mountsOf> = [];
          if (step.kind === 'recreate') {
            this.env.say(`Container ${step.container.name} Recreate (${step.why})`);
            // docker compose: the replacement mounts the old container's anonymous volumes (kept
            // here, not removed with it); --renew-anon-volumes leaves them and makes new ones.
            const old = await this.ctx.store.read(step.container.id);
            if (old && !opts.renewAnonVolumes) carried = mountsOf(old);
            await this.remove(step.container, false);
          }
          const r = await this.createReplica(svc, step.number, undefined, carried.length ? (c) => void (c.mounts = carryAnonymousVolumes(c.mounts, carried)) : undefined);
          this.env.say(`Container ${r.name} Created`);
          toStart.push(r);
        }
      }
      if (opts.noStart || toStart.length === 0) continue;
      await this.waitDependencies(svc);
      for (const r of toStart) {
        const ready = r.state === 'created' ? r : await prepareStart(this.ctx, r.id);
        await this.startRecord(ready);
        this.env.say(`Container ${r.name} Started`);
      }
    }
    if (opts.wait) await this.waitReady(services);
  }

  /** `up --wait`: every container running, and healthy where it has a check. */
  async waitReady(services: string[]): Promise<void> {
    for (const c of await this.containers({ services })) {
      const r = c.record;
      if (r.healthcheck) await waitHealth(this.ctx, r.id, 'healthy');
      else if ((await this.ctx.store.read(r.id))?.state !== 'running') throw new ContainerStateError(`container ${r.name} is not running`);
      this.env.say(`Container ${r.name} ${r.healthcheck ? 'Healthy' : 'Running'}`);
    }
  }

  /** Stops a container: its signal, then SIGKILL after `timeoutSeconds` (default: its stop_grace_period). */
  async stop(c: Existing, timeoutSeconds?: number): Promise<void> {
    if (!c.running) return;
    this.env.say(`Container ${c.name} Stopping`);
    await stopContainer(this.ctx, c.id, timeoutSeconds ?? this.stopTimeout(c.service));
    this.env.say(`Container ${c.name} Stopped`);
  }

  /** Stops (when running) and removes a container; with volumes, its anonymous volumes too. */
  async remove(c: Existing, volumes: boolean): Promise<void> {
    await this.stop(c);
    await removeContainer(this.ctx, c.id, true, volumes);
    this.env.say(`Container ${c.name} Removed`);
  }

  /** `stop`/`kill`/`rm` in reverse start order. */
  async inStopOrder(services: string[] | undefined, fn: (c: Existing) => Promise<void>, opts: { oneoff?: boolean } = {}): Promise<void> {
    const all = (await this.containers({ ...opts, ...(services?.length ? { services } : {}) })).map((c) => c.existing);
    for (const c of stopOrder(this.project, all)) await fn(c);
  }

  async kill(c: Existing, signal: string): Promise<void> {
    if (!c.running) return;
    await killContainer(this.ctx, c.id, signal);
    this.env.say(`Container ${c.name} Killed`);
  }

  /** `start`: stopped containers of the services, in start order, dependencies waited for. */
  async start(services: string[] | undefined): Promise<void> {
    const all = await this.containers({ ...(services?.length ? { services } : {}) });
    for (const name of selectedServices(this.project, services, true)) {
      const mine = all.filter((c) => c.existing.service === name && !c.existing.running);
      if (mine.length === 0) continue;
      await this.waitDependencies(this.project.services[name]!);
      for (const c of mine) {
        await this.startRecord(await prepareStart(this.ctx, c.record.id));
        this.env.say(`Container ${c.existing.name} Started`);
      }
    }
  }

  /** `down`: containers (orphans with removeOrphans), then networks, then volumes and images if asked. */
  async down(opts: { volumes?: boolean; rmi?: 'local' | 'all'; removeOrphans?: boolean; removeImage?: (ref: string) => Promise<void> }): Promise<void> {
    const all = (await this.containers({ oneoff: true })).map((c) => c.existing);
    // The file's services, those of inactive profiles too (docker compose's down removes them as well).
    const mine = all.filter((c) => c.service in this.project.services || this.env.disabled?.includes(c.service) || opts.removeOrphans);
    const orphans = all.filter((c) => !mine.includes(c));
    if (orphans.length) this.env.say(`Found orphan containers (${orphans.map((o) => o.name).join(', ')}) for this project; remove them with --remove-orphans`);
    for (const c of stopOrder(this.project, mine)) await this.remove(c, !!opts.volumes);
    for (const [key, n] of Object.entries(this.project.networks)) {
      if (n.external) continue;
      const nets = new NetworkStore(this.env.root);
      // Only what compose made for this project: a network of that name made by hand stays.
      if ((await nets.read(n.name))?.labels?.[LABEL.project] !== this.project.name) continue;
      try {
        await removeNetwork(this.ctx, n.name);
        this.env.say(`Network ${n.name} Removed`);
      } catch (err) {
        this.env.say(`Network ${n.name} not removed (networks.${key}): ${(err as Error).message}`);
      }
    }
    if (opts.volumes) {
      for (const v of Object.values(this.project.volumes)) {
        if (v.external || (await new VolumeStore(this.env.root).get(v.name))?.labels[LABEL.project] !== this.project.name) continue;
        try {
          await removeVolume(this.ctx, v.name);
          this.env.say(`Volume ${v.name} Removed`);
        } catch (err) {
          if (!(err instanceof VolumeError && err.kind === 'not-found')) throw err;
        }
      }
    }
    if (opts.rmi && opts.removeImage) {
      for (const s of Object.values(this.project.services)) {
        if (opts.rmi === 'local' && s.image !== undefined) continue;
        const ref = imageName(this.project, s);
        if (await this.imageId(ref)) await opts.removeImage(ref);
      }
    }
  }
}
