// The resolved model as `compose config` prints it: the compose file's own shape (services keyed
// by name, no empty lists or mappings), so the output is itself a valid compose file.
import type { Project } from './model.js';

function prune(v: unknown): unknown {
  if (Array.isArray(v)) return v.length ? v.map(prune) : undefined;
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const p = prune(x);
      if (p !== undefined) out[k] = p;
    }
    return Object.keys(out).length ? out : undefined;
  }
  // `$` written back as `$$`, so reading the output again gives the same values.
  return typeof v === 'string' ? v.replaceAll('$', '$$$$') : v;
}

export function renderable(project: Project): Record<string, unknown> {
  const services: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(project.services)) {
    const { name: _n, replicas, limits, restart_policy, networks, ...rest } = s;
    void _n;
    const deploy = prune({ replicas: replicas === 1 ? undefined : replicas, resources: { limits }, restart_policy });
    const nets = Object.fromEntries(Object.entries(networks).map(([k, n]) => [k, prune(n) ?? null]));
    services[name] = { ...(prune(rest) as object), ...(Object.keys(nets).length ? { networks: nets } : {}), ...(deploy ? { deploy } : {}) };
  }
  return {
    name: prune(project.name),
    services,
    ...(prune({ networks: project.networks, volumes: project.volumes, secrets: project.secrets, configs: project.configs }) as object),
  };
}
