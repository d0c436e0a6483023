// Runs Debian's `docker-registry` (CNCF distribution 2.8) as a reference registry for interop tests:
// a generated config in a temp dir (never the system one in /etc/docker/registry, which has
// htpasswd auth), filesystem storage in that temp dir, deletes enabled, a free loopback port.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const DOCKER_REGISTRY_BIN = process.env.DOCKER_REGISTRY_BIN ?? 'docker-registry';

/**
 * A user for htpasswd-protected test registries. distribution accepts only bcrypt hashes; this one
 * was generated once (by distribution itself) for exactly this password, so tests need no bcrypt.
 */
export const TEST_USER = {
  username: 'stevedore',
  password: '5fBOrcnkUc8_90hKYF_m4R7p0zzCsxuhvEt7XYU2hIA',
  bcrypt: '$2a$10$s5Y7IJzgc8Q8/7ifr.0Meu9tTXMAeFAShYfV9DZad/uYoXlBXfeHC',
} as const;

export interface CncfRegistryOptions {
  /**
   * htpasswd basic auth: `true` for TEST_USER, or the htpasswd file's content (bcrypt lines
   * `user:$2y$…`). Omitted: no auth.
   */
  htpasswd?: boolean | string;
  /**
   * Token auth (`auth.token`): clients are sent to `realm` for tokens, which must carry `service`
   * as `aud` and `issuer` as `iss` and be signed by a key of the PEM bundle at `rootCertBundle`.
   */
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
  /** Give up if the registry is not serving /v2/ within this long (default 30 s). */
  startTimeoutMs?: number;
  /** Extra environment, e.g. REGISTRY_* overrides of the generated config. */
  env?: NodeJS.ProcessEnv;
}

export interface CncfRegistry {
  url: string; // http://127.0.0.1:PORT
  host: string; // 127.0.0.1:PORT, for skopeo refs
  dir: string; // temp dir with config.yml and storage/
  child: ChildProcess;
  logs: string[];
  stop(): Promise<void>;
}

function configYaml(dir: string, htpasswdPath: string | undefined, token: CncfRegistryOptions['token']): string {
  // Plain YAML written by hand: every value is a fixed token or a temp path without special characters.
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: json',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'storage')}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    '  addr: 127.0.0.1:0',
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  if (htpasswdPath) lines.push('auth:', '  htpasswd:', '    realm: stevedore-test', `    path: ${htpasswdPath}`);
  else if (token) {
    const q = (v: string) => JSON.stringify(v); // a JSON string is a valid YAML scalar
    lines.push('auth:', '  token:', `    realm: ${q(token.realm)}`, `    service: ${q(token.service)}`, `    issuer: ${q(token.issuer)}`, `    rootcertbundle: ${q(token.rootCertBundle)}`);
  }
  return lines.join('\n') + '\n';
}

/** Starts docker-registry on a free loopback port and waits until GET /v2/ answers. */
export async function startCncfRegistry(opts: CncfRegistryOptions = {}): Promise<CncfRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'stevedore-cncf-'));
  let child: ChildProcess | undefined;
  try {
    let htpasswdPath: string | undefined;
    if (opts.htpasswd) {
      htpasswdPath = join(dir, 'htpasswd');
      const content = opts.htpasswd === true ? `${TEST_USER.username}:${TEST_USER.bcrypt}\n` : opts.htpasswd;
      await writeFile(htpasswdPath, content, { mode: 0o600 });
    }
    const configPath = join(dir, 'config.yml');
    await writeFile(configPath, configYaml(dir, htpasswdPath, opts.token));

    // The config has addr :0; distribution logs the bound address ("listening on 127.0.0.1:PORT").
    const proc = spawn(DOCKER_REGISTRY_BIN, ['serve', configPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
    });
    child = proc;
    const logs: string[] = [];
    // Not events.once: that rejects on 'error' (spawn failure), which is reported below instead.
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((r) => proc.once('exit', (c, s) => r([c, s])));
    const timeoutMs = opts.startTimeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;

    const host = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`docker-registry did not report listening within ${timeoutMs} ms:\n${logs.join('\n')}`)),
        timeoutMs,
      );
      const onLine = (line: string) => {
        logs.push(line);
        let msg = line;
        try {
          msg = String((JSON.parse(line) as { msg?: unknown }).msg ?? '');
        } catch {
          /* not JSON */
        }
        const m = /^listening on (\S+:\d+)$/.exec(msg);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!.replace(/^\[::\]|^0\.0\.0\.0/, '127.0.0.1'));
        }
      };
      createInterface({ input: proc.stdout! }).on('line', onLine);
      createInterface({ input: proc.stderr! }).on('line', onLine);
      proc.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot run ${DOCKER_REGISTRY_BIN}: ${err.message} (install the docker-registry package)`));
      });
      void exited.then(([code, signal]) => {
        clearTimeout(timer);
        reject(new Error(`docker-registry exited (${code ?? signal}) before listening:\n${logs.join('\n')}`));
      });
    });
    const url = `http://${host}`;

    // Listening is logged just before Serve; poll /v2/ so callers get a registry that answers.
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`docker-registry exited before serving:\n${logs.join('\n')}`);
      }
      try {
        const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(5_000) });
        await res.arrayBuffer();
        if (res.status === 200 || res.status === 401) break;
      } catch {
        /* not accepting yet */
      }
      if (Date.now() > deadline) throw new Error(`docker-registry at ${url} did not answer /v2/ in time:\n${logs.join('\n')}`);
      await delay(50); // poll interval, not synchronisation
    }

    let stopped: Promise<void> | undefined;
    return {
      url,
      host,
      dir,
      child: proc,
      logs,
      stop() {
        stopped ??= (async () => {
          if (proc.exitCode === null && proc.signalCode === null) {
            proc.kill('SIGTERM');
            // distribution drains connections on SIGTERM; never hang a test run on it.
            const killer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
            await exited;
            clearTimeout(killer);
          }
          await rm(dir, { recursive: true, force: true });
        })();
        return stopped;
      },
    };
  } catch (err) {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const done = once(child, 'exit');
      child.kill('SIGKILL');
      await done;
    }
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
