// The image config a build writes (image-spec config.md, as Docker writes it): what each metadata
// instruction does to the container config (ENV, LABEL, EXPOSE, VOLUME, USER, ENTRYPOINT, CMD,
// SHELL, STOPSIGNAL, HEALTHCHECK, ONBUILD, MAINTAINER), history entries with BuildKit's created_by
// text, and the final config and manifest documents.
import { KindedError } from '../util/errors.js';
import { MediaType, type Descriptor, type Digest } from '../oci/index.js';
import { expand, expandWords, keyValues, type Vars } from './dockerfile/expand.js';
import type { Instruction } from './dockerfile/parser.js';
import { parseDuration as parseGoDuration } from '../util/duration.js';

/** An instruction's arguments: kind `invalid` (util/errors.ts). */
export class InstructionError extends KindedError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'InstructionError';
  }
}

export interface Healthcheck {
  Test: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Healthcheck?: Healthcheck;
  ArgsEscaped?: boolean;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  OnBuild?: string[] | null;
  Shell?: string[];
  StopSignal?: string;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfigJson {
  architecture: string;
  os: string;
  variant?: string;
  author?: string;
  created?: string;
  config: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: HistoryEntry[];
}

export const DEFAULT_SHELL = ['/bin/sh', '-c'];

/** `K=V` list → map (the last one wins). */
export function envMap(env: string[] | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const kv of env ?? []) {
    const i = kv.indexOf('=');
    if (i > 0) m.set(kv.slice(0, i), kv.slice(i + 1));
    else if (kv) m.set(kv, '');
  }
  return m;
}

export function setEnv(cfg: ContainerConfig, key: string, value: string): void {
  const env = (cfg.Env ?? []).filter((kv) => kv.split('=')[0] !== key);
  env.push(`${key}=${value}`);
  cfg.Env = env;
}

/** A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds, as image configs keep it. */
export function parseDuration(text: string): number {
  const ms = parseGoDuration(text);
  if (ms === undefined) throw new InstructionError(`invalid duration ${JSON.stringify(text)}`);
  return Math.round(ms * 1e6);
}

/** CMD/ENTRYPOINT/HEALTHCHECK CMD: the exec form as is, the shell form through the SHELL. */
function commandOf(ins: { args: string; json?: string[] }, shell: string[]): string[] {
  return ins.json ?? [...shell, ins.args];
}

function expandPort(word: string): string[] {
  const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(word);
  if (!m) throw new InstructionError(`invalid port ${JSON.stringify(word)}`);
  const lo = Number(m[1]);
  const hi = m[2] ? Number(m[2]) : lo;
  if (hi < lo || hi > 65535) throw new InstructionError(`invalid port range ${JSON.stringify(word)}`);
  const proto = (m[3] ?? 'tcp').toLowerCase();
  const out: string[] = [];
  for (let p = lo; p <= hi; p++) out.push(`${p}/${proto}`);
  return out;
}

export interface MetadataState {
  config: ContainerConfig;
  /** Whether CMD was set in this stage (ENTRYPOINT then keeps it; otherwise it resets an inherited one). */
  cmdSet: boolean;
  author?: string;
}

/**
 * Applies a metadata instruction to the config; returns the history's created_by text.
 * `vars` are the variables visible before the line (ENV values use them, not each other).
 */
export function applyMetadata(state: MetadataState, ins: Instruction, vars: Vars, escape: string): string {
  const cfg = state.config;
  const shell = cfg.Shell ?? DEFAULT_SHELL;
  switch (ins.cmd) {
    case 'ENV': {
      const kvs = keyValues(ins.args, vars, escape);
      for (const { key, value } of kvs) setEnv(cfg, key, value ?? '');
      return `ENV ${kvs.map((kv) => `${kv.key}=${kv.value}`).join(' ')}`;
    }
    case 'LABEL': {
      const kvs = keyValues(ins.args, vars, escape);
      cfg.Labels = { ...(cfg.Labels ?? {}) };
      for (const { key, value } of kvs) cfg.Labels[key] = value ?? '';
      return `LABEL ${kvs.map((kv) => `${kv.key}=${kv.value}`).join(' ')}`;
    }
    case 'MAINTAINER': {
      state.author = expand(ins.args, vars, escape);
      return `MAINTAINER ${state.author}`;
    }
    case 'EXPOSE': {
      const ports = expandWords(ins.args, vars, escape).flatMap(expandPort);
      cfg.ExposedPorts = { ...(cfg.ExposedPorts ?? {}) };
      for (const p of ports) cfg.ExposedPorts[p] = {};
      return `EXPOSE map[${ports.map((p) => `${p}:{}`).join(' ')}]`;
    }
    case 'VOLUME': {
      const vols = ins.json ? ins.json.map((v) => expand(v, vars, escape)) : expandWords(ins.args, vars, escape);
      if (vols.some((v) => v.trim() === '')) throw new InstructionError('VOLUME specified can not be an empty string');
      cfg.Volumes = { ...(cfg.Volumes ?? {}) };
      for (const v of vols) cfg.Volumes[v] = {};
      return `VOLUME [${vols.join(' ')}]`;
    }
    case 'USER': {
      cfg.User = expand(ins.args.trim(), vars, escape);
      return `USER ${cfg.User}`;
    }
    case 'STOPSIGNAL': {
      cfg.StopSignal = expand(ins.args.trim(), vars, escape);
      return `STOPSIGNAL ${cfg.StopSignal}`;
    }
    case 'SHELL': {
      if (!ins.json || ins.json.length === 0) throw new InstructionError('SHELL requires the arguments to be in JSON form');
      cfg.Shell = ins.json;
      return `SHELL [${ins.json.map((s) => JSON.stringify(s)).join(' ')}]`;
    }
    case 'CMD': {
      cfg.Cmd = commandOf(ins, shell);
      state.cmdSet = true;
      if (!ins.json) cfg.ArgsEscaped = true;
      return `CMD ${JSON.stringify(cfg.Cmd)}`;
    }
    case 'ENTRYPOINT': {
      cfg.Entrypoint = commandOf(ins, shell);
      if (!ins.json) cfg.ArgsEscaped = true;
      // Docker: an ENTRYPOINT resets a CMD inherited from the base image.
      if (!state.cmdSet) cfg.Cmd = null;
      return `ENTRYPOINT ${JSON.stringify(cfg.Entrypoint)}`;
    }
    case 'HEALTHCHECK': {
      const rest = ins.args.trim();
      if (/^none$/i.test(rest)) {
        if (ins.flags.length) throw new InstructionError('HEALTHCHECK NONE takes no options');
        cfg.Healthcheck = { Test: ['NONE'] };
        return 'HEALTHCHECK NONE';
      }
      const m = /^cmd\s+([\s\S]*)$/i.exec(rest);
      if (!m) throw new InstructionError('HEALTHCHECK needs CMD or NONE');
      const cmdText = m[1]!;
      const json = ins.json ?? (cmdText.trim().startsWith('[') ? (() => { try { const v = JSON.parse(cmdText) as unknown; return Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined; } catch { return undefined; } })() : undefined);
      const hc: Healthcheck = { Test: json ? ['CMD', ...json] : ['CMD-SHELL', cmdText] };
      for (const f of ins.flags) {
        const v = expand(f.value, vars, escape);
        if (f.name === 'interval') hc.Interval = parseDuration(v);
        else if (f.name === 'timeout') hc.Timeout = parseDuration(v);
        else if (f.name === 'start-period') hc.StartPeriod = parseDuration(v);
        else if (f.name === 'start-interval') hc.StartInterval = parseDuration(v);
        else if (f.name === 'retries') {
          if (!/^\d+$/.test(v)) throw new InstructionError(`HEALTHCHECK --retries must be a number, not ${JSON.stringify(v)}`);
          hc.Retries = Number(v);
        } else throw new InstructionError(`HEALTHCHECK: unknown flag --${f.name}`);
      }
      cfg.Healthcheck = hc;
      return `HEALTHCHECK ${JSON.stringify(hc)}`;
    }
    case 'ONBUILD': {
      const trigger = ins.args.trim();
      const first = trigger.split(/\s+/)[0]!.toUpperCase();
      if (first === 'ONBUILD') throw new InstructionError('chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
      if (first === 'FROM' || first === 'MAINTAINER') throw new InstructionError(`${first} isn't allowed as an ONBUILD trigger`);
      cfg.OnBuild = [...(cfg.OnBuild ?? []), trigger];
      return `ONBUILD ${trigger}`;
    }
    default:
      throw new InstructionError(`${ins.cmd} is not a metadata instruction`);
  }
}

export function configDocument(c: {
  platform: { os: string; architecture: string; variant?: string };
  author?: string;
  created: string;
  config: ContainerConfig;
  diffIds: Digest[];
  history: HistoryEntry[];
}): ImageConfigJson {
  return {
    architecture: c.platform.architecture,
    ...(c.author ? { author: c.author } : {}),
    config: c.config,
    created: c.created,
    history: c.history,
    os: c.platform.os,
    rootfs: { type: 'layers', diff_ids: c.diffIds },
    ...(c.platform.variant ? { variant: c.platform.variant } : {}),
  };
}

export function manifestDocument(config: Descriptor, layers: Descriptor[]): Record<string, unknown> {
  return { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers };
}
