// Server configuration: defaults < YAML file < STEVEDORE_* environment variables < flags.
// Validated once at start; a bad key is named in the error.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

const duration = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v * 1000;
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `invalid duration ${JSON.stringify(v)} (use e.g. 90s, 30m, 168h)` });
    return z.NEVER;
  }
  return ms;
});

const addr = z.string().refine((v) => parseAddr(v) !== undefined, { message: 'must be HOST:PORT, :PORT or [IPv6]:PORT' });

export const ConfigSchema = z.strictObject({
  http: z
    .strictObject({
      addr: addr.default(':5000'),
      /** Time allowed for in-flight requests on SIGTERM before connections are closed. */
      drainTimeout: duration.prefault('30s'),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .prefault({}),
  storage: z
    .strictObject({
      driver: z.enum(['filesystem']).default('filesystem'),
      filesystem: z.strictObject({ rootDirectory: z.string().min(1).default('./data') }).prefault({}),
      delete: z.strictObject({ enabled: z.boolean().default(true) }).prefault({}),
      uploadPurging: z
        .strictObject({
          enabled: z.boolean().default(true),
          maxAge: duration.prefault('168h'),
          interval: duration.prefault('24h'),
        })
        .prefault({}),
    })
    .prefault({}),
  limits: z
    .strictObject({
      manifestMaxBytes: z.number().int().positive().default(4 * 1024 * 1024),
    })
    .prefault({}),
});

export type Config = z.output<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Parses "90s", "30m", "168h", "1h30m", "500ms" into milliseconds. */
export function parseDuration(v: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  if (!/^(\d+(?:\.\d+)?(ms|s|m|h|d))+$/.test(v)) return undefined;
  let total = 0;
  for (const m of v.matchAll(re)) total += Number(m[1]) * units[m[2]!]!;
  return total;
}

export function parseAddr(v: string): { host: string | undefined; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(v);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  const host = m[1] ?? (m[2] || undefined);
  return { host, port };
}

function formatIssues(err: z.ZodError, source: string): string {
  return err.issues
    .map((i) => {
      const path = i.path.join('.');
      if (i.code === 'unrecognized_keys') {
        return `${source}: unknown key ${i.keys.map((k) => (path ? `${path}.${k}` : k)).join(', ')}`;
      }
      return `${source}: ${path || '(top level)'}: ${i.message}`;
    })
    .join('\n');
}

/** Deep-merges plain objects; arrays and scalars from `b` replace. */
function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
        ? merge(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/**
 * STEVEDORE_<PATH> variables, where PATH is the config path in upper case joined by `_`
 * (e.g. STEVEDORE_HTTP_ADDR, STEVEDORE_STORAGE_FILESYSTEM_ROOTDIRECTORY, STEVEDORE_LOG_LEVEL).
 * Values are parsed as YAML scalars, so `false` and `8080` get their types.
 */
export function configFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const leaves = new Map<string, string[]>();
  const collect = (value: unknown, path: string[]) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) collect(v, [...path, k]);
    } else {
      leaves.set(`STEVEDORE_${path.join('_').toUpperCase()}`, path);
    }
  };
  collect(ConfigSchema.parse({}), []);
  let out: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('STEVEDORE_') || raw === undefined) continue;
    const path = leaves.get(name);
    if (!path) continue; // other STEVEDORE_* variables belong to the client and engine
    let obj: unknown = parseYaml(raw) ?? raw;
    for (let i = path.length - 1; i >= 0; i--) obj = { [path[i]!]: obj };
    out = merge(out, obj as Record<string, unknown>);
  }
  return out;
}

export interface LoadConfigOptions {
  file?: string;
  env?: NodeJS.ProcessEnv;
  overrides?: ConfigInput;
}

export function loadConfig(opts: LoadConfigOptions = {}): Config {
  let fromFile: Record<string, unknown> = {};
  if (opts.file) {
    let text: string;
    try {
      text = readFileSync(opts.file, 'utf8');
    } catch (err) {
      throw new ConfigError(`config: cannot read ${opts.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (err) {
      throw new ConfigError(`config: ${opts.file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    if (doc !== null && doc !== undefined && (typeof doc !== 'object' || Array.isArray(doc))) {
      throw new ConfigError(`config: ${opts.file} must be a YAML mapping`);
    }
    fromFile = (doc ?? {}) as Record<string, unknown>;
    const check = ConfigSchema.safeParse(fromFile);
    if (!check.success) throw new ConfigError(formatIssues(check.error, opts.file));
  }
  const fromEnv = configFromEnv(opts.env ?? {});
  const envCheck = ConfigSchema.safeParse(fromEnv);
  if (!envCheck.success) throw new ConfigError(formatIssues(envCheck.error, 'environment (STEVEDORE_*)'));
  const merged = merge(merge(fromFile, fromEnv), (opts.overrides ?? {}) as Record<string, unknown>);
  const result = ConfigSchema.safeParse(merged);
  if (!result.success) throw new ConfigError(formatIssues(result.error, 'config'));
  return result.data;
}
