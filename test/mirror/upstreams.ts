// The upstream registries the mirror tests pull through, made in one place so the kinds can change
// without touching the tests: Debian's docker-registry with htpasswd (Basic) auth, and a second
// Stevedore in token mode with its built-in token service (Bearer challenges, ES256 tokens scoped
// per repository). Each has a fault-injecting proxy (upstream-proxy.ts) between it and the mirror.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import bcrypt from 'bcryptjs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../server/config.js';
import { startServer, type RunningServer } from '../../server/index.js';
import { startCncfRegistry, TEST_USER, type CncfRegistry } from '../helpers/cncf-registry.js';
import { skopeoCopy, type Credentials } from '../helpers/skopeo.js';
import { writeLayout, type BuiltImage, type BuiltIndex } from '../helpers/oci-image-builder.js';
import { startUpstreamProxy, type UpstreamProxy } from './upstream-proxy.js';

export type UpstreamKind = 'cncf-htpasswd' | 'stevedore-token';

export interface TestUpstream {
  kind: UpstreamKind;
  /** What the mirror is configured with (the fault-injecting proxy). */
  host: string;
  proxy: UpstreamProxy;
  /** Credentials the mirror uses for this upstream. */
  creds: Credentials;
  /** Pushes an image or index to the upstream (bypassing the proxy) as `repo:tag`. */
  push(content: BuiltImage | BuiltIndex, repo: string, tag: string): Promise<void>;
  stop(): Promise<void>;
}

const TOKEN_USER: Credentials = { username: 'mirror', password: 'mirror-secret-1' };

export async function startUpstream(kind: UpstreamKind): Promise<TestUpstream> {
  const work = await mkdtemp(join(tmpdir(), `mirror-upstream-${kind}-`));
  let registry: CncfRegistry | undefined;
  let server: RunningServer | undefined;
  let direct: string;
  let creds: Credentials;
  if (kind === 'cncf-htpasswd') {
    registry = await startCncfRegistry({ htpasswd: true });
    direct = registry.host;
    creds = { username: TEST_USER.username, password: TEST_USER.password };
  } else {
    await mkdir(join(work, 'keys'));
    await writeFile(join(work, 'htpasswd'), `${TOKEN_USER.username}:${bcrypt.hashSync(TOKEN_USER.password, 4)}\n`);
    const config = loadConfig({
      overrides: {
        // Loopback: the built-in token service's realm is the listener's address (no realm needed).
        http: { addr: '127.0.0.1:0' },
        auth: {
          mode: 'token',
          htpasswd: { path: join(work, 'htpasswd') },
          tokenService: { enabled: true, keyFile: join(work, 'keys', 'token.pem') },
        },
      },
    });
    server = await startServer({ config, dataDir: join(work, 'data'), addr: '127.0.0.1:0', logLevel: 'silent' });
    direct = new URL(server.url).host;
    creds = TOKEN_USER;
  }
  const proxy = await startUpstreamProxy(`http://${direct}`);
  let n = 0;
  return {
    kind,
    host: proxy.host,
    proxy,
    creds,
    async push(content, repo, tag) {
      const dir = join(work, `layout-${++n}`);
      await writeLayout(dir, content);
      await skopeoCopy(`oci:${dir}:${content.tag}`, `docker://${direct}/${repo}:${tag}`, { destCreds: creds, all: 'index' in content });
    },
    async stop() {
      await proxy.stop();
      await server?.close();
      await registry?.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
}
