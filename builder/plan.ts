// The build plan: the Dockerfile's stages (FROM … [AS name] up to the next FROM), the ARGs before
// the first FROM (usable in FROM lines), and which stages a target needs — its own, the stages it
// builds FROM, copies --from and mounts from, transitively — in the order they must be built.
import { KindedError } from '../util/errors.js';
import { DockerfileParseError, type Dockerfile, type Instruction } from './dockerfile/parser.js';
import { expand, keyValues, type Vars } from './dockerfile/expand.js';

/** Stages, targets and FROM lines: kind `invalid` (util/errors.ts). */
export class PlanError extends KindedError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'PlanError';
  }
}

export interface Stage {
  index: number;
  /** Lower-cased `AS` name. */
  name?: string;
  /** The FROM argument after substitution with the global ARGs. */
  base: string;
  /** FROM --platform, as written (substituted). */
  platform?: string;
  from: Instruction;
  instructions: Instruction[];
}

export interface Plan {
  /** ARGs before the first FROM: name → default (undefined when declared without one). */
  metaArgs: { key: string; value?: string }[];
  stages: Stage[];
}

function flag(ins: Instruction, name: string): string | undefined {
  return ins.flags.find((f) => f.name === name)?.value;
}

/** Splits the Dockerfile into stages, substituting the global ARGs (with build args) in FROM lines. */
export function makePlan(df: Dockerfile, buildArgs: ReadonlyMap<string, string>, builtin: ReadonlyMap<string, string>, file = 'Dockerfile'): Plan {
  const metaArgs: Plan['metaArgs'] = [];
  const stages: Stage[] = [];
  const vars = new Map<string, string>(builtin);
  let cur: Stage | undefined;
  for (const ins of df.instructions) {
    if (ins.cmd === 'FROM') {
      const words = ins.args.trim().split(/\s+/);
      let name: string | undefined;
      if (words.length === 3 && words[1]!.toLowerCase() === 'as') {
        name = words[2]!.toLowerCase();
        if (!/^[a-z][a-z0-9-_.]*$/.test(name)) throw new DockerfileParseError(file, ins.line, 1, `invalid name for build stage: ${JSON.stringify(words[2])}, name can't start with a number or contain symbols`);
        if (stages.some((s) => s.name === name)) throw new DockerfileParseError(file, ins.line, 1, `duplicate stage name ${JSON.stringify(name)}`);
      } else if (words.length !== 1) {
        throw new DockerfileParseError(file, ins.line, 1, 'FROM requires either one or three arguments: FROM IMAGE [AS NAME]');
      }
      const base = expand(words[0]!, vars, df.escape);
      if (!base) throw new DockerfileParseError(file, ins.line, 1, `FROM ${words[0]}: the base name is empty after substitution`);
      const platformFlag = flag(ins, 'platform');
      cur = { index: stages.length, ...(name ? { name } : {}), base, ...(platformFlag ? { platform: expand(platformFlag, vars, df.escape) } : {}), from: ins, instructions: [] };
      stages.push(cur);
      continue;
    }
    if (!cur) {
      if (ins.cmd !== 'ARG') throw new DockerfileParseError(file, ins.line, 1, `${ins.cmd} before the first FROM: only ARG may come before FROM`);
      for (const kv of keyValues(ins.args, vars, df.escape, { allowBare: true })) {
        metaArgs.push(kv);
        const v = buildArgs.get(kv.key) ?? kv.value;
        if (v !== undefined) vars.set(kv.key, v);
      }
      continue;
    }
    cur.instructions.push(ins);
  }
  if (stages.length === 0) throw new DockerfileParseError(file, 1, 1, 'the Dockerfile has no FROM instruction');
  return { metaArgs, stages };
}

/** A stage by `AS` name or index (as COPY --from and --target name them). */
export function findStage(plan: Plan, ref: string, before = Infinity): Stage | undefined {
  const lower = ref.toLowerCase();
  const named = plan.stages.find((s) => s.name === lower && s.index < before);
  if (named) return named;
  if (/^[0-9]+$/.test(ref)) {
    const s = plan.stages[Number(ref)];
    return s && s.index < before ? s : undefined;
  }
  return undefined;
}

/** Stage references of one stage: its FROM, COPY/ADD --from, RUN --mount from=. */
export function stageDependencies(plan: Plan, stage: Stage): Stage[] {
  const deps = new Set<Stage>();
  const add = (ref: string | undefined) => {
    if (!ref) return;
    const s = findStage(plan, ref, stage.index);
    if (s) deps.add(s);
  };
  add(stage.base);
  for (const ins of stage.instructions) {
    if (ins.cmd === 'COPY' || ins.cmd === 'ADD') add(flag(ins, 'from'));
    if (ins.cmd === 'RUN') {
      for (const f of ins.flags) {
        if (f.name !== 'mount') continue;
        const m = /(?:^|,)from=([^,]+)/.exec(f.value);
        add(m?.[1]);
      }
    }
  }
  return [...deps];
}

/** The stages the target needs, dependencies first; the target is last. */
export function stagesFor(plan: Plan, target?: string): Stage[] {
  let last = plan.stages[plan.stages.length - 1]!;
  if (target !== undefined) {
    const t = findStage(plan, target);
    if (!t) throw new PlanError(`target stage ${JSON.stringify(target)} could not be found`);
    last = t;
  }
  const order: Stage[] = [];
  const visit = (s: Stage) => {
    if (order.includes(s)) return;
    for (const d of stageDependencies(plan, s)) visit(d);
    order.push(s);
  };
  visit(last);
  return order;
}

/** Vars type re-exported for the executor. */
export type { Vars };
