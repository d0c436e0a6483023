// Real clients that need a second token in token mode (issue 13, must-fix 3): when a token lacks
// the scope a request needs, the registry answers 401 with `error="insufficient_scope"` and the
// scope, as distribution does, and clients fetch a token for it; a 403 ends them. `podman
// search HOST/` logged in asks for the catalog only after its first token; `skopeo delete` asks
// the token service for `repository:NAME:*`, which grants the actions the caller holds.
import { podman } from '../helpers/podman.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { multiLayerImage, writeLayout, type BuiltImage } from '../helpers/oci-image-builder.js';
import { skopeo, skopeoCopy, skopeoInspect } from '../helpers/skopeo.js';
import { htpasswdText, startWithConfig, USERS, type AuthEnv } from './auth-env.js';

let env: AuthEnv;
let dir: string;
let image: BuiltImage;
let layout: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stevedore-token-clients-'));
  await writeFile(join(dir, 'htpasswd'), htpasswdText());
  env = await startWithConfig(
    {
      auth: {
        mode: 'token',
        htpasswd: { path: join(dir, 'htpasswd') },
        tokenService: { enabled: true, keyFile: join(dir, 'token.pem') },
        access: [
          { repositories: ['alice/*'], users: ['alice'], actions: ['pull', 'push', 'delete'] },
          { repositories: ['bob/*'], users: ['bob'], actions: ['pull', 'push', 'delete'] },
          { repositories: ['shared/*'], users: ['alice'], actions: ['pull', 'push'] },
        ],
      },
    },
    { dir: await mkdtemp(join(dir, 'server-')) },
  );
  image = multiLayerImage({ tag: 'v1', randomBytes: 16 * 1024 });
  layout = join(dir, 'layout');
  await writeLayout(layout, image);
  const host = env.server.host;
  for (const [user, repo] of [['alice', 'alice/app'], ['alice', 'alice/tool'], ['alice', 'shared/lib'], ['bob', 'bob/private']] as const) {
    await skopeoCopy(`oci:${layout}:v1`, `docker://${host}/${repo}:v1`, { destCreds: { username: user, password: USERS[user] } });
  }
}, 120_000);

afterAll(async () => {
  await env?.server.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** podman with its own state under this test's directory (test/helpers/podman.ts). */
const runPodman = (args: string[], input?: string) => podman(dir, args, input);

describe('real clients in token mode that need a token for a further scope', () => {
  it('podman search HOST/ logged in lists what the user may pull', async () => {
    const host = env.server.host;
    const login = await runPodman(['login', '--tls-verify=false', '-u', 'alice', '--password-stdin', host], USERS.alice);
    expect(login.code, login.stderr).toBe(0);
    const search = await runPodman(['search', '--tls-verify=false', '--format', '{{.Name}}', `${host}/`]);
    expect(search.code, search.stderr).toBe(0);
    expect(search.stdout.trim().split('\n').sort()).toEqual([`${host}/alice/app`, `${host}/alice/tool`, `${host}/shared/lib`]);
  }, 180_000);

  it('skopeo delete removes an image where the user may delete; refused elsewhere', async () => {
    const host = env.server.host;
    const alice = `alice:${USERS.alice}`;
    await skopeo(['delete', '--tls-verify=false', '--creds', alice, `docker://${host}/alice/tool:v1`]);
    await expect(skopeoInspect(`docker://${host}/alice/tool:v1`, { creds: { username: 'alice', password: USERS.alice } })).rejects.toThrow(/manifest unknown|not found/i);
    // alice may pull and push shared/*, not delete; bob/private is not hers at all.
    await expect(skopeo(['delete', '--tls-verify=false', '--creds', alice, `docker://${host}/shared/lib:v1`])).rejects.toThrow(/denied|unauthorized|insufficient/i);
    await expect(skopeo(['delete', '--tls-verify=false', '--creds', alice, `docker://${host}/bob/private:v1`])).rejects.toThrow(/denied|unauthorized|insufficient/i);
    expect((await skopeoInspect(`docker://${host}/shared/lib:v1`, { creds: { username: 'alice', password: USERS.alice } })).Digest).toBe(image.manifest.digest);
    expect((await skopeoInspect(`docker://${host}/bob/private:v1`, { creds: { username: 'bob', password: USERS.bob } })).Digest).toBe(image.manifest.digest);
  }, 180_000);
});
