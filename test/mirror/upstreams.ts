// The upstream registries the mirror tests pull through, made in one place so the kinds can change
// without touching the tests: Debian's docker-registry with htpasswd (Basic) auth, and a second
// Stevedore behind Bearer token auth (test/helpers/token-auth-proxy.ts in front of it, until
// Stevedore has its own token mode: then only `startStevedoreTokenUpstream` changes). Each has a
// fault-injecting proxy (upstream-proxy.ts) between it and the mirror.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../server/index.js';
import { startCncfRegistry, TEST_USER, type CncfRegistry } from '../helpers/cncf-registry.js';
import { skopeoCopy, type Credentials } from '../helpers/skopeo.js';
import { startTokenProxy, type TokenProxy } from '../helpers/token-auth-proxy.js';
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
  let token: TokenProxy | undefined;
  let direct: string;
  let creds: Credentials;
  if (kind === 'cncf-htpasswd') {
    registry = await startCncfRegistry({ htpasswd: true });
    direct = registry.host;
    creds = { username: TEST_USER.username, password: TEST_USER.password };
  } else {
    server = await startServer({ dataDir: join(work, 'data'), addr: '127.0.0.1:0', logLevel: 'silent' });
    token = await startTokenProxy({ upstream: server.url, ...TOKEN_USER });
    direct = token.host;
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
      await token?.close();
      await server?.close();
      await registry?.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
}
