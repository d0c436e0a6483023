// Server configuration: defaults < YAML file < STEVEDORE_* environment variables < flags.
// Validated once at start; a bad key is named in the error.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { z } from 'zod';
import { duration, parseDuration } from './config-duration.js';
import { parseAddr } from './listen-addr.js';
import { AuditConfigSchema, auditConfigProblems } from './audit/audit-config.js';
import { AuthConfigSchema, authConfigProblems, TlsConfigSchema } from './auth/auth-config.js';
import { mirrorConfigSchema } from './mirror/mirror-config.js';
import { policyConfigSchema } from './policy/policy-config.js';

// yaml is loaded on its first use (a configuration file, or a list or mapping given in a
// variable): importing it is ~15 ms of the start of every `gc --data-dir` and `serve` without one.
let yamlParse: ((text: string) => unknown) | undefined;
function parseYaml(text: string): unknown {
  yamlParse ??= (createRequire(import.meta.url)('yaml') as typeof import('yaml')).parse;
  return yamlParse(text);
}

const addr = z.string().refine((v) => parseAddr(v) !== undefined, { message: 'must be HOST:PORT, :PORT or [IPv6]:PORT' });

// ---- S3 storage (README "S3 storage"). Every key has a default (empty: unset) so that each one
// also has its STEVEDORE_STORAGE_S3_* variable.
const MiB = 1024 * 1024;
const s3Storage = z
  .strictObject({
    bucket: z.string().default(''),
    region: z.string().min(1).default('us-east-1'),
    /** Empty: AWS. */
    endpoint: z
      .string()
      .default('')
      .refine((v) => v === '' || /^https?:\/\/[^/?#]+\/?$/.test(v), { message: 'must be empty (AWS) or http(s)://HOST[:PORT]' }),
    forcePathStyle: z.boolean().default(false),
    rootDirectory: z
      .string()
      .default('')
      .refine((v) => /^\/?([A-Za-z0-9._-]+\/?)*$/.test(v), { message: 'must be a key prefix of letters, digits, ".", "_", "-" and "/"' }),
    /** Both empty: the SDK's default credential chain. */
    accessKeyId: z.string().default(''),
    secretAccessKey: z.string().default(''),
    sessionToken: z.string().default(''),
    serverSideEncryption: z.enum(['', 'AES256', 'aws:kms']).default(''),
    kmsKeyId: z.string().default(''),
    /** Empty: the bucket's default. */
    storageClass: z.string().default(''),
    checksums: z.enum(['WHEN_REQUIRED', 'WHEN_SUPPORTED']).default('WHEN_REQUIRED'),
    chunkSize: z
      .number()
      .int()
      .min(5 * MiB)
      .max(5 * 1024 * MiB)
      .default(10 * MiB),
    redirect: z
      .strictObject({
        enabled: z.boolean().default(false),
        expiry: duration.prefault('20m').refine((ms) => ms >= 1000 && ms <= 7 * 86_400_000, { message: 'must be between 1s and 7d (168h)' }),
      })
      .prefault({}),
  })
  .prefault({});

// ---- Operating the registry: metrics, health, notifications, rate limits (README "Metrics" to
// "Reloading the configuration").

const optionalAddr = z.string().refine((v) => v === '' || parseAddr(v) !== undefined, {
  message: 'must be empty (the main listener) or HOST:PORT, :PORT or [IPv6]:PORT',
});

const rateRule = z
  .strictObject({
    /** Sustained requests per second; 0: no limit. */
    rate: z.number().nonnegative().default(0),
    /** Requests allowed at once (the bucket size); 0: the rate rounded up, at least 1. */
    burst: z.number().int().nonnegative().default(0),
  })
  .prefault({});
const rateRules = z.strictObject({ read: rateRule, write: rateRule }).prefault({});

const eventFilter = z
  .strictObject({
    actions: z.array(z.enum(['push', 'pull', 'delete', 'mount'])).default([]),
    /** Exact media types, or prefixes ending in `*` (application/vnd.oci.image.*). */
    mediaTypes: z.array(z.string().min(1)).default([]),
  })
  .prefault({});

const notificationEndpoint = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, { message: 'must be 1-64 letters, digits, ".", "_" or "-"' }),
  url: z.string().refine(isHttpUrl, { message: 'must be an http:// or https:// URL' }),
  disabled: z.boolean().default(false),
  headers: z.record(z.string(), z.union([z.string(), z.array(z.string())])).default({}),
  timeout: duration.prefault('5s'),
  /** Attempts after the first before the events are given up. */
  retries: z.number().int().nonnegative().default(5),
  backoff: duration.prefault('1s'),
  maxBackoff: duration.prefault('1m'),
  queueSize: z.number().int().positive().default(1000),
  include: eventFilter,
  exclude: eventFilter,
});

function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

// ---- Garbage collection and retention (README "Garbage collection").
const retentionPolicy = z
  .strictObject({
    /** Repository name globs; the first policy that matches a repository applies to it. */
    repositories: z.array(z.string().min(1)).min(1),
    keepLast: z.number().int().nonnegative().optional(),
    keepTags: z.array(z.string().min(1)).default([]),
    deleteOlderThan: duration.optional(),
    protect: z.array(z.string().min(1)).default([]),
  })
  .refine((p) => p.keepLast !== undefined || p.deleteOlderThan !== undefined || p.keepTags.length > 0, {
    message: 'a policy needs keepLast, keepTags or deleteOlderThan',
  });

export const ConfigSchema = z.strictObject({
  http: z
    .strictObject({
      addr: addr.default(':5000'),
      /** Time allowed for in-flight requests on SIGTERM before connections are closed. */
      drainTimeout: duration.prefault('30s'),
      /** A connection on which nothing arrives or leaves for this long is closed. */
      idleTimeout: duration.prefault('2m'),
      /** The most one request may take to arrive whole (headers and body); 0: no limit. */
      requestTimeout: duration.prefault('1h'),
      /**
       * Worker processes sharing the listener (server/cluster); 0: one per core (the storage of
       * every driver is shared by processes, so each allows it); 1: one process, no cluster.
       */
      workers: z.number().int().min(0).max(256).default(0),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      access: z
        .strictObject({
          /** One line per request. */
          enabled: z.boolean().default(true),
          /** /healthz, /readyz and /metrics requests at info like the others (default: at debug). */
          probes: z.boolean().default(false),
        })
        .prefault({}),
    })
    .prefault({}),
  storage: z
    .strictObject({
      driver: z.enum(['filesystem', 's3']).default('filesystem'),
      filesystem: z.strictObject({ rootDirectory: z.string().min(1).default('./data') }).prefault({}),
      s3: s3Storage,
      delete: z.strictObject({ enabled: z.boolean().default(true) }).prefault({}),
      /**
       * Where an upload's running digest lives between chunks (storage/upload-store.ts,
       * UploadDigestState): `memory` (fastest; a chunk that reaches another process makes it
       * re-read the upload), `storage` (saved with the upload after every chunk, slower hashing),
       * `hybrid` (native hashing while the chunks reach one process; after one re-read elsewhere,
       * saved), `auto` (hybrid on s3, memory on filesystem).
       */
      uploadDigestState: z.enum(['auto', 'memory', 'storage', 'hybrid']).default('auto'),
      uploadPurging: z
        .strictObject({
          enabled: z.boolean().default(true),
          maxAge: duration.prefault('168h'),
          interval: duration.prefault('24h'),
        })
        .prefault({}),
    })
    .prefault({}),
  gc: z
    .strictObject({
      /** Scheduled runs inside `stevedore serve`. */
      enabled: z.boolean().default(false),
      interval: duration.prefault('24h'),
      /** Nothing younger than this is deleted (protects pushes in progress). */
      gracePeriod: duration.prefault('1h'),
      deleteUntagged: z.boolean().default(false),
      keepReferrers: z.boolean().default(true),
      retention: z.array(retentionPolicy).default([]),
    })
    .prefault({}),
  limits: z
    .strictObject({
      manifestMaxBytes: z.number().int().positive().default(4 * 1024 * 1024),
      /** Descriptors (config, layers or child manifests) one manifest may reference. */
      manifestMaxReferences: z.number().int().positive().default(1000),
    })
    .prefault({}),
  metrics: z
    .strictObject({
      enabled: z.boolean().default(true),
      path: z
        .string()
        .regex(/^\/[A-Za-z0-9._~\/-]*$/, { message: 'must be a path such as /metrics' })
        .refine((p) => !/^\/v2(\/|$)/.test(p) && p !== '/healthz' && p !== '/readyz', { message: 'must not be under /v2 or be /healthz or /readyz' })
        .default('/metrics'),
      /** Empty: on the main listener (http.addr); HOST:PORT: a separate listener (with /healthz and /readyz). */
      addr: optionalAddr.default(''),
    })
    .prefault({}),
  health: z
    .strictObject({
      readiness: z
        .strictObject({
          /** A storage probe slower than this is a failure. */
          timeout: duration.prefault('2s'),
          /** How long a probe's result answers /readyz before storage is probed again. */
          cacheFor: duration.prefault('1s'),
        })
        .prefault({}),
    })
    .prefault({}),
  notifications: z
    .strictObject({
      endpoints: z
        .array(notificationEndpoint)
        .superRefine((list, ctx) => {
          const seen = new Set<string>();
          list.forEach((e, i) => {
            if (seen.has(e.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate endpoint name ${JSON.stringify(e.name)}` });
            seen.add(e.name);
          });
        })
        .default([]),
    })
    .prefault({}),
  rateLimit: z
    .strictObject({
      global: rateRules,
      perClient: rateRules,
      /** Applies once authentication sets a user; anonymous requests are limited per client only. */
      perUser: rateRules,
      /** Clients and users tracked at most (each of reads and writes); the least recently seen are forgotten. */
      maxTrackedKeys: z.number().int().positive().default(10_000),
    })
    .prefault({}),
  ui: z
    .strictObject({
      /** The web UI at /ui/ and its read-only JSON endpoints under /v2/…/_ui/ (README "Web UI"). */
      enabled: z.boolean().default(true),
    })
    .prefault({}),
  auth: AuthConfigSchema, tls: TlsConfigSchema, // server/auth/auth-config.ts
  audit: AuditConfigSchema, // server/audit/audit-config.ts
  mirror: mirrorConfigSchema,
  policy: policyConfigSchema, // server/policy: immutable tags, storage quotas
});

export type Config = z.output<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}


export { parseDuration };

export { parseAddr };

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
 * STEVEDORE_* variables that are not server configuration keys: read by the client, the engine,
 * the CLI, the test suites and the benchmarks. A new variable read anywhere goes here, or `serve`
 * reports it as unknown (as it reports an unknown key of the YAML file).
 */
export const OTHER_STEVEDORE_VARIABLES: readonly string[] = [
  'STEVEDORE_CERTS_DIRS',
  'STEVEDORE_CLIENT_CONFIG',
  'STEVEDORE_DEBUG',
  'STEVEDORE_DOCKER_DAEMON_JSON',
  'STEVEDORE_ROOT',
  'STEVEDORE_UNPACK_WORKERS',
  'STEVEDORE_CNI_PATH', // engine/network: where the CNI plugins are
  'STEVEDORE_STOP_WITH_PARENT', // set by `npm start` (scripts/start.sh): serve stops when its parent shell is gone
  'STEVEDORE_WORKER_SLOT', // set by `serve`'s primary process for each worker it forks (server/cluster)
  'STEVEDORE_COMPILE_CACHE', // bin/stevedore.js: where Node's module compile cache goes
  'STEVEDORE_NO_BUNDLE', // bin/stevedore.js: run tsc's output instead of the bundle
  // test suites and benchmarks
  'STEVEDORE_CHROMIUM', // browser tests of server/ui
  'STEVEDORE_UI_SCREENSHOTS',
  'STEVEDORE_API_TARGET',
  'STEVEDORE_INTEROP_TARGET',
  'STEVEDORE_PORT',
  'STEVEDORE_ARGS',
  'STEVEDORE_NODE_ARGS',
];

/** Each configuration leaf's variable (`STEVEDORE_HTTP_ADDR`) → its path and default value. */
function envLeaves(): Map<string, { path: string[]; fallback: unknown }> {
  const leaves = new Map<string, { path: string[]; fallback: unknown }>();
  const collect = (value: unknown, path: string[]) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) collect(v, [...path, k]);
    } else {
      leaves.set(`STEVEDORE_${path.join('_').toUpperCase()}`, { path, fallback: value });
    }
  };
  collect(ConfigSchema.parse({}), []);
  return leaves;
}

/**
 * A variable's text as the type of its key: a string key takes the text as it is (a bucket named
 * `123` stays a string); booleans take true/false/1/0/yes/no/on/off; numbers take decimal numbers
 * (anything else, e.g. a duration like `1h`, goes to the key's own parser); other keys (lists,
 * keys without a default) are read as YAML.
 */
export function envValue(raw: string, fallback: unknown): unknown {
  const text = raw.trim();
  if (typeof fallback === 'string') return raw;
  if (typeof fallback === 'boolean') {
    if (/^(true|1|yes|on)$/i.test(text)) return true;
    if (/^(false|0|no|off)$/i.test(text)) return false;
    return raw;
  }
  if (typeof fallback === 'number') return /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : raw;
  try {
    return parseYaml(raw) ?? raw;
  } catch {
    return raw;
  }
}

/**
 * STEVEDORE_<PATH> variables, where PATH is the config path in upper case joined by `_`
 * (e.g. STEVEDORE_HTTP_ADDR, STEVEDORE_STORAGE_FILESYSTEM_ROOTDIRECTORY, STEVEDORE_LOG_LEVEL),
 * each parsed to its key's type (envValue). A STEVEDORE_* variable that is neither a key nor one of
 * OTHER_STEVEDORE_VARIABLES is a ConfigError, as an unknown key of the file is.
 */
export function configFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const leaves = envLeaves();
  let out: Record<string, unknown> = {};
  const unknown: string[] = [];
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('STEVEDORE_') || raw === undefined) continue;
    const leaf = leaves.get(name);
    if (!leaf) {
      if (!OTHER_STEVEDORE_VARIABLES.includes(name)) unknown.push(name);
      continue;
    }
    let obj: unknown = envValue(raw, leaf.fallback);
    for (let i = leaf.path.length - 1; i >= 0; i--) obj = { [leaf.path[i]!]: obj };
    out = merge(out, obj as Record<string, unknown>);
  }
  if (unknown.length > 0) {
    throw new ConfigError(unknown.sort().map((n) => `environment: unknown variable ${n}${suggestion(n, [...leaves.keys()])}`).join('\n'));
  }
  return out;
}

/** ` (did you mean STEVEDORE_HTTP_ADDR?)` for a near miss: the known name with the longest common prefix, if close. */
function suggestion(name: string, known: string[]): string {
  let best = '';
  let bestLen = 0;
  for (const k of known) {
    let i = 0;
    while (i < k.length && i < name.length && k[i] === name[i]) i++;
    if (i > bestLen) [best, bestLen] = [k, i];
  }
  return best && bestLen >= Math.max('STEVEDORE_'.length + 3, name.length - 4) ? ` (did you mean ${best}?)` : '';
}

/** The variable of a config path (`storage.s3.bucket` → `STEVEDORE_STORAGE_S3_BUCKET`). */
function variableOf(path: readonly PropertyKey[]): string {
  return `STEVEDORE_${path.map(String).join('_').toUpperCase()}`;
}

export interface LoadConfigOptions {
  file?: string;
  env?: NodeJS.ProcessEnv;
  overrides?: ConfigInput;
  /** The flag each override came from, by config path (`http.addr` → `--addr`), so errors name it. */
  overrideFlags?: Record<string, string>;
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
  if (!envCheck.success) {
    throw new ConfigError(envCheck.error.issues.map((i) => `environment: ${variableOf(i.path)} (${i.path.join('.')}): ${i.message}`).join('\n'));
  }
  const merged = merge(merge(fromFile, fromEnv), (opts.overrides ?? {}) as Record<string, unknown>);
  const result = ConfigSchema.safeParse(merged);
  if (!result.success) {
    // Name where the offending value came from: a flag, a variable, or the file's key.
    const flags = opts.overrideFlags ?? {};
    const has = (obj: unknown, path: readonly PropertyKey[]) => path.reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<PropertyKey, unknown>)[k] : undefined), obj) !== undefined;
    throw new ConfigError(
      result.error.issues
        .map((i) => {
          const key = i.path.join('.');
          if (i.code === 'unrecognized_keys') return `config: unknown key ${i.keys.map((k) => (key ? `${key}.${k}` : k)).join(', ')}`;
          const flag = Object.entries(flags).find(([p]) => key === p || key.startsWith(`${p}.`))?.[1];
          if (flag && has(opts.overrides, i.path)) return `flag ${flag} (${key}): ${i.message}`;
          if (has(fromEnv, i.path)) return `environment: ${variableOf(i.path)} (${key}): ${i.message}`;
          return `${opts.file ?? 'config'}: ${key || '(top level)'}: ${i.message}`;
        })
        .join('\n'),
    );
  }
  const problems = crossCheck(result.data);
  if (problems.length) throw new ConfigError(problems.map((p) => `config: ${p}`).join('\n'));
  return result.data;
}

/**
 * Rules that span keys, checked on the merged configuration only (a file may name the S3 driver
 * and leave the bucket and credentials to the environment).
 */
function crossCheck(c: Config): string[] {
  const out: string[] = [...authConfigProblems(c.auth, parseAddr(c.http.addr)?.host), ...auditConfigProblems(c.audit, c.notifications.endpoints.map((e) => e.name))];
  const s3 = c.storage.s3;
  if (c.storage.driver === 's3') {
    if (!s3.bucket) out.push('storage.s3.bucket: is required when storage.driver is s3');
    if (!s3.accessKeyId !== !s3.secretAccessKey) {
      out.push('storage.s3: accessKeyId and secretAccessKey go together (both empty: the SDK\'s default credential chain)');
    }
  }
  return out;
}
