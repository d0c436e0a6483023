// Start order from depends_on: dependencies before dependants, stop order the reverse; a cycle is
// an error naming it.
import { ComposeError } from './errors.js';
import type { Project } from './model.js';

/** Service names in an order that starts every dependency before its dependants. */
export function startOrder(project: Project, only?: string[]): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, chain: string[]) => {
    const st = state.get(name);
    if (st === 'done') return;
    if (st === 'visiting') throw new ComposeError(`services.${name}.depends_on`, `dependency cycle: ${[...chain, name].join(' → ')}`);
    const svc = project.services[name];
    if (!svc) throw new ComposeError('', `no such service: ${name}`);
    state.set(name, 'visiting');
    for (const dep of Object.keys(svc.depends_on).sort()) visit(dep, [...chain, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of only ?? Object.keys(project.services).sort()) visit(name, []);
  return order;
}

/** The services that depend on `name`, directly or not (recreated with it when needed). */
export function dependantsOf(project: Project, name: string): string[] {
  const out = new Set<string>();
  const walk = (n: string) => {
    for (const s of Object.values(project.services)) {
      if (n in s.depends_on && !out.has(s.name)) {
        out.add(s.name);
        walk(s.name);
      }
    }
  };
  walk(name);
  return [...out].sort();
}
