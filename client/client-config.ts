// The client's configuration: registry mirrors and insecure registries, from Stevedore's own
// client config file and from Docker's daemon.json (`registry-mirrors` applies to docker.io).
import type { z } from 'zod';
import { DEFAULT_REGISTRY } from '../oci/reference.js'; // not the index: `tags` loads this
import { ClientError } from './errors.js';

// Node's modules from process.getBuiltinModule, not ESM imports (`tags` loads this and is timed): an
// ESM import builds a facade of the module by reading every export, and node:fs's promises getter
// loads node:fs/promises with a dozen of Node's internals.
const { existsSync, readFileSync } = process.getBuiltinModule('node:fs');
const { homedir } = process.getBuiltinModule('node:os');
const { join } = process.getBuiltinModule('node:path');

export type PullFromMirror = 'all' | 'digest-only' | 'tag-only';

export interface Mirror {
  /** `host[:port]` with an optional repository prefix: `mirror.internal:5000/dockerhub`. */
  location: string;
  insecure: boolean;
  pullFromMirror: PullFromMirror;
}

export interface ClientConfig {
  /** Registries (host, host:port or CIDR) reached as insecure registries. */
  insecure: string[];
  /** Whether loopback registries are insecure without configuration (as in Docker). */
  insecureLoopback: boolean;
  mirrors: Map<string, Mirror[]>;
  sources: string[];
}

/** The file schemas, built on first use: zod and yaml load only when a config file exists. */
async function schemas() {
  const { z } = await import('zod');
  const MirrorSchema = z.union([
    z.string().min(1).transform((location) => ({ location })),
    z.strictObject({
      location: z.string().min(1),
      insecure: z.boolean().optional(),
      pullFromMirror: z.enum(['all', 'digest-only', 'tag-only']).optional(),
    }),
  ]);

  const FileSchema = z.strictObject({
    insecureRegistries: z.array(z.string().min(1)).default([]),
    insecureLoopback: z.boolean().default(true),
    registries: z
      .record(
        z.string().min(1),
        z.strictObject({
          insecure: z.boolean().default(false),
          mirrors: z.array(MirrorSchema).default([]),
          pullFromMirror: z.enum(['all', 'digest-only', 'tag-only']).default('all'),
        }),
      )
      .default({}),
  });

  const DaemonJsonSchema = z.looseObject({
    'registry-mirrors': z.array(z.string()).optional(),
    'insecure-registries': z.array(z.string()).optional(),
  });

  return { FileSchema, DaemonJsonSchema };
}

export function defaultClientConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.STEVEDORE_CLIENT_CONFIG) return env.STEVEDORE_CLIENT_CONFIG;
  const base = env.XDG_CONFIG_HOME ?? join(homedir(), '.config');
  return join(base, 'stevedore', 'client.yaml');
}

export function defaultDaemonJsonPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.STEVEDORE_DOCKER_DAEMON_JSON ?? '/etc/docker/daemon.json';
}

function issues(err: z.ZodError, file: string): string {
  return err.issues
    .map((i) => (i.code === 'unrecognized_keys' ? `${file}: unknown key ${[...i.path, ...i.keys].join('.')}` : `${file}: ${i.path.join('.') || '(top level)'}: ${i.message}`))
    .join('; ');
}

/** `https://mirror.gcr.io/` → `mirror.gcr.io`; `http://` marks the mirror insecure. */
function normaliseLocation(raw: string): { location: string; insecure: boolean } {
  const insecure = raw.startsWith('http://');
  return { location: raw.replace(/^https?:\/\//, '').replace(/\/+$/, ''), insecure };
}

export async function loadClientConfig(opts: { file?: string; daemonJson?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ClientConfig> {
  const env = opts.env ?? process.env;
  const file = opts.file ?? defaultClientConfigPath(env);
  const daemonJson = opts.daemonJson ?? defaultDaemonJsonPath(env);
  const cfg: ClientConfig = { insecure: [], insecureLoopback: true, mirrors: new Map(), sources: [] };

  if (existsSync(daemonJson)) {
    let doc: unknown;
    try {
      doc = JSON.parse(readFileSync(daemonJson, 'utf8'));
    } catch (err) {
      throw new ClientError(`${daemonJson}: not valid JSON: ${(err as Error).message}`);
    }
    const parsed = (await schemas()).DaemonJsonSchema.safeParse(doc);
    if (!parsed.success) throw new ClientError(issues(parsed.error, daemonJson));
    cfg.insecure.push(...(parsed.data['insecure-registries'] ?? []));
    const mirrors = (parsed.data['registry-mirrors'] ?? []).map((m) => {
      const n = normaliseLocation(m);
      return { location: n.location, insecure: n.insecure, pullFromMirror: 'all' as const };
    });
    if (mirrors.length) cfg.mirrors.set(DEFAULT_REGISTRY, mirrors);
    cfg.sources.push(daemonJson);
  }

  if (existsSync(file)) {
    let doc: unknown;
    try {
      const { parse: parseYaml } = await import('yaml');
      doc = parseYaml(readFileSync(file, 'utf8')) ?? {};
    } catch (err) {
      throw new ClientError(`${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    const parsed = (await schemas()).FileSchema.safeParse(doc);
    if (!parsed.success) throw new ClientError(issues(parsed.error, file));
    cfg.insecure.push(...parsed.data.insecureRegistries);
    cfg.insecureLoopback = parsed.data.insecureLoopback;
    for (const [registry, r] of Object.entries(parsed.data.registries)) {
      if (r.insecure) cfg.insecure.push(registry);
      if (r.mirrors.length === 0) continue;
      // The client file's mirrors come before daemon.json's for the same registry.
      const mine = r.mirrors.map((m) => {
        const n = normaliseLocation(m.location);
        const full = m as { location: string; insecure?: boolean; pullFromMirror?: PullFromMirror };
        return { location: n.location, insecure: full.insecure ?? n.insecure, pullFromMirror: full.pullFromMirror ?? r.pullFromMirror };
      });
      cfg.mirrors.set(registry, [...mine, ...(cfg.mirrors.get(registry) ?? [])]);
    }
    cfg.sources.push(file);
  }
  for (const mirrors of cfg.mirrors.values()) for (const m of mirrors) if (m.insecure) cfg.insecure.push(m.location.split('/')[0]!);
  return cfg;
}
