// `up` as a plan: from the model, the project's containers as they are and the images the services
// resolve to, which replica is created, recreated (its config hash or image changed), started
// (stopped but current), kept, or removed (scaled down); services in depends_on order. Pure: the
// executor (up.ts) carries the plan out against the engine.
import { ComposeError } from './errors.js';
import { configHash } from './container-spec.js';
import type { Project, Service } from './model.js';
import { startOrder } from './order.js';

/** A container of the project as the planner needs to know it. */
export interface Existing {
  id: string;
  name: string;
  service: string;
  number: number;
  configHash?: string;
  /** The image id (config digest) it runs. */
  imageId: string;
  running: boolean;
  oneoff: boolean;
}

export interface UpOptions {
  /** Only these services (and, unless noDeps, their dependencies). */
  services?: string[];
  noDeps?: boolean;
  forceRecreate?: boolean;
  noRecreate?: boolean;
  /** --scale S=N over deploy.replicas. */
  scale?: Record<string, number>;
}

export type Step =
  | { kind: 'create'; number: number }
  | { kind: 'recreate'; number: number; container: Existing; why: string }
  | { kind: 'start'; number: number; container: Existing }
  | { kind: 'keep'; number: number; container: Existing }
  | { kind: 'remove'; container: Existing };

export interface ServicePlan {
  service: string;
  steps: Step[];
}

export interface UpPlan {
  /** In start order: every dependency before its dependants. */
  services: ServicePlan[];
  /** Containers of services no longer in the model. */
  orphans: Existing[];
}

/** The services `up SERVICE...` (or run, start) acts on, in start order. */
export function selectedServices(project: Project, services: string[] | undefined, noDeps = false): string[] {
  for (const s of services ?? []) if (!(s in project.services)) throw new ComposeError('', `no such service: ${s}`);
  const order = startOrder(project, services?.length ? services : undefined);
  return noDeps && services?.length ? order.filter((s) => services.includes(s)) : order;
}

export function desiredReplicas(service: Service, scale: Record<string, number> = {}): number {
  const n = scale[service.name] ?? service.replicas;
  if (n > 1 && service.container_name) throw new ComposeError(`services.${service.name}.container_name`, `a container name is unique: the service cannot have ${n} replicas`);
  return n;
}

export function planUp(project: Project, existing: Existing[], images: Record<string, string | undefined>, opts: UpOptions = {}): UpPlan {
  for (const s of Object.keys(opts.scale ?? {})) if (!(s in project.services)) throw new ComposeError('', `--scale ${s}: no such service`);
  const services: ServicePlan[] = [];
  const recreated = new Set<string>();
  for (const name of selectedServices(project, opts.services, opts.noDeps)) {
    const svc = project.services[name]!;
    const want = desiredReplicas(svc, opts.scale);
    const hash = configHash(svc);
    const mine = existing.filter((c) => c.service === name && !c.oneoff).sort((a, b) => a.number - b.number || a.name.localeCompare(b.name));
    const steps: Step[] = [];
    const taken = new Set<number>();
    // A dependency that was recreated restarts its dependants that ask for it (depends_on.restart).
    const depRecreated = Object.entries(svc.depends_on).find(([d, dep]) => dep.restart && recreated.has(d))?.[0];
    for (const c of mine) {
      if (c.number < 1 || c.number > want || taken.has(c.number)) {
        steps.push({ kind: 'remove', container: c });
        continue;
      }
      taken.add(c.number);
      let why: string | undefined;
      if (!opts.noRecreate) {
        if (opts.forceRecreate) why = 'forced';
        else if (c.configHash !== hash) why = 'configuration changed';
        else if (images[name] !== undefined && c.imageId !== images[name]) why = 'image changed';
        else if (depRecreated) why = `${depRecreated} was recreated`;
      }
      if (why) steps.push({ kind: 'recreate', number: c.number, container: c, why });
      else if (c.running) steps.push({ kind: 'keep', number: c.number, container: c });
      else steps.push({ kind: 'start', number: c.number, container: c });
    }
    for (let n = 1; n <= want; n++) if (!taken.has(n)) steps.push({ kind: 'create', number: n });
    steps.sort((a, b) => (a.kind === 'remove' ? -1 : b.kind === 'remove' ? 1 : a.number - b.number));
    if (steps.some((s) => s.kind === 'recreate')) recreated.add(name);
    services.push({ service: name, steps });
  }
  const orphans = existing.filter((c) => !c.oneoff && !(c.service in project.services));
  return { services, orphans };
}

/** `down`/`stop`: orphans first, then services in reverse start order, last replica first. */
export function stopOrder(project: Project, existing: Existing[]): Existing[] {
  const order = startOrder(project);
  const rank = (c: Existing) => (c.service in project.services ? order.indexOf(c.service) : Infinity);
  return [...existing].sort((a, b) => rank(b) - rank(a) || b.number - a.number || a.name.localeCompare(b.name));
}

export type ImageAction = 'build' | 'pull' | 'use';

/** Whether `up` builds, pulls or uses the local image of a service (pull_policy, --build, --no-build). */
export function imageAction(service: Service, present: boolean, opts: { build?: boolean; noBuild?: boolean } = {}): ImageAction {
  const path = `services.${service.name}`;
  if (opts.build && opts.noBuild) throw new ComposeError('', '--build and --no-build cannot be combined');
  if (service.build) {
    if (opts.noBuild) {
      if (!present) throw new ComposeError(path, `image ${service.image ?? `of ${service.name}`} is not built and --no-build was given`);
      return 'use';
    }
    return opts.build || service.pull_policy === 'build' || !present ? 'build' : 'use';
  }
  if (service.pull_policy === 'always') return 'pull';
  if (present) return 'use';
  if (service.pull_policy === 'never') throw new ComposeError(`${path}.pull_policy`, `never, and image ${service.image} is not in the local store`);
  return 'pull';
}
