// Where registry credentials come from: Docker's config.json (auths, identity tokens, credential
// helpers) and containers' auth.json. Each source is a CredentialSource; the first that knows a
// registry wins.
import { DEFAULT_REGISTRY } from '../../oci/reference.js'; // not the index: `tags` loads this

// Node's modules from process.getBuiltinModule, not ESM imports (`tags` loads this and is timed): an
// ESM import builds a facade of the module by reading every export, and node:fs's promises getter
// loads node:fs/promises with a dozen of Node's internals.
const { existsSync, readFileSync } = process.getBuiltinModule('node:fs');
const { homedir } = process.getBuiltinModule('node:os');
const { join } = process.getBuiltinModule('node:path');

export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (Docker's `identitytoken`). */
  identityToken?: string;
}

export interface CredentialSource {
  readonly description: string;
  get(registry: string): Promise<Credentials | undefined>;
}

/** Keys a registry may be stored under in auth files (Docker Hub has historic spellings). */
export function registryKeys(registry: string): string[] {
  if (registry === DEFAULT_REGISTRY) {
    return ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io', 'https://index.docker.io/v1'];
  }
  return [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`, `https://${registry}/v2/`];
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

interface DockerConfigFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

function decodeEntry(entry: AuthEntry): Credentials | undefined {
  const out: Credentials = {};
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      out.username = decoded.slice(0, colon);
      out.password = decoded.slice(colon + 1);
    }
  }
  if (entry.username) out.username = entry.username;
  if (entry.password) out.password = entry.password;
  if (entry.identitytoken) out.identityToken = entry.identitytoken;
  return out.username || out.identityToken ? out : undefined;
}

function readJson(path: string): DockerConfigFile | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as DockerConfigFile;
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
}

/** Runs `docker-credential-<helper> get` (the Docker credential helper protocol). */
export function credentialHelperGet(helper: string, serverUrl: string): Promise<Credentials | undefined> {
  return new Promise((resolve, reject) => {
    // node:child_process (and the streams and sockets it brings) only when a helper is asked.
    const child = process.getBuiltinModule('node:child_process').spawn(`docker-credential-${helper}`, ['get'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let errOut = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (errOut += d.toString()));
    child.on('error', (err) => reject(new Error(`credential helper docker-credential-${helper}: ${err.message}`)));
    child.on('close', (code) => {
      if (code !== 0) {
        // "credentials not found in native keychain" is a miss, not a failure.
        if (/not found/i.test(out + errOut)) return resolve(undefined);
        return reject(new Error(`credential helper docker-credential-${helper} failed: ${(out + errOut).trim().split('\n')[0]}`));
      }
      try {
        const r = JSON.parse(out) as { Username?: string; Secret?: string };
        if (!r.Secret) return resolve(undefined);
        // Docker's convention: username "<token>" means the secret is an identity token.
        resolve(r.Username === '<token>' ? { identityToken: r.Secret } : { username: r.Username, password: r.Secret });
      } catch {
        reject(new Error(`credential helper docker-credential-${helper} printed invalid JSON`));
      }
    });
    child.stdin.end(serverUrl);
  });
}

export function dockerConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG ?? join(homedir(), '.docker');
}

/** ~/.docker/config.json (or $DOCKER_CONFIG/config.json). */
export class DockerConfigCredentials implements CredentialSource {
  readonly description: string;
  constructor(readonly path: string = join(dockerConfigDir(), 'config.json')) {
    this.description = path;
  }

  async get(registry: string): Promise<Credentials | undefined> {
    const cfg = readJson(this.path);
    if (!cfg) return undefined;
    const keys = registryKeys(registry);
    const helper = keys.map((k) => cfg.credHelpers?.[k]).find(Boolean);
    if (helper) return credentialHelperGet(helper, keys[0]!);
    for (const k of keys) {
      const entry = cfg.auths?.[k];
      const creds = entry && decodeEntry(entry);
      if (creds) return creds;
    }
    if (cfg.credsStore && keys.some((k) => cfg.auths?.[k] !== undefined)) return credentialHelperGet(cfg.credsStore, keys[0]!);
    if (cfg.credsStore) return credentialHelperGet(cfg.credsStore, keys[0]!).catch(() => undefined);
    return undefined;
  }
}

/** containers' auth.json: $REGISTRY_AUTH_FILE, else ${XDG_RUNTIME_DIR}/containers/auth.json. */
export class ContainersAuthCredentials implements CredentialSource {
  readonly description: string;
  constructor(readonly path: string) {
    this.description = path;
  }

  static defaultPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
    if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE;
    if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json');
    return undefined;
  }

  async get(registry: string): Promise<Credentials | undefined> {
    const cfg = readJson(this.path);
    for (const k of registryKeys(registry)) {
      const entry = cfg?.auths?.[k];
      const creds = entry && decodeEntry(entry);
      if (creds) return creds;
    }
    return undefined;
  }
}

/** Credentials given on the command line, for one registry or all. */
export class StaticCredentials implements CredentialSource {
  readonly description = 'command line';
  constructor(
    private readonly creds: Credentials,
    private readonly registry?: string,
  ) {}
  async get(registry: string): Promise<Credentials | undefined> {
    return !this.registry || this.registry === registry ? this.creds : undefined;
  }
}

/** Tries sources in order. */
export class CredentialChain implements CredentialSource {
  readonly description: string;
  constructor(private readonly sources: CredentialSource[]) {
    this.description = sources.map((s) => s.description).join(', ');
  }
  async get(registry: string): Promise<Credentials | undefined> {
    for (const s of this.sources) {
      const c = await s.get(registry);
      if (c) return c;
    }
    return undefined;
  }
}

/** The sources Docker and podman users expect, in the order podman reads them. */
export function defaultCredentialSources(env: NodeJS.ProcessEnv = process.env): CredentialChain {
  const sources: CredentialSource[] = [];
  const containers = ContainersAuthCredentials.defaultPath(env);
  if (containers) sources.push(new ContainersAuthCredentials(containers));
  sources.push(new DockerConfigCredentials(join(dockerConfigDir(env), 'config.json')));
  return new CredentialChain(sources);
}
