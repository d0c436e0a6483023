// `stevedore quota ls` against a registry with access control (htpasswd): an admin sees the
// quotas; another user gets one line naming the refusal, exit status 1; a registry without the
// endpoint (or unreachable) one line too.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, htpasswdText, RULES, startWithConfig, USERS, type AuthEnv } from '../auth/auth-env.js';

let env: AuthEnv;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stevedore-quota-cli-'));
  await writeFile(join(dir, 'htpasswd'), htpasswdText());
  env = await startWithConfig(
    {
      auth: { mode: 'htpasswd', htpasswd: { path: join(dir, 'htpasswd') }, ...RULES },
      policy: { quotas: [{ name: 'alice', repositories: ['alice/**'], limit: '1MiB' }] },
    },
    { dir: await mkdtemp(join(dir, 'server-')) },
  );
}, 120_000);

afterAll(async () => {
  await env?.server.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const run = (args: string[]) => cli(args, { dockerConfig: join(dir, 'docker') });

describe('stevedore quota ls with access control', () => {
  it('shows an admin every quota', async () => {
    const r = await run(['quota', 'ls', '--creds', `root:${USERS.root}`, env.server.host]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('NAME    REPOSITORIES   USED   LIMIT     USE%   BLOBS\nalice   alice/**       0 B    1.0 MiB   0%     0\n');
  }, 60_000);

  it('refuses anyone else in one line, exit status 1', async () => {
    const r = await run(['quota', 'ls', '--creds', `alice:${USERS.alice}`, env.server.host]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toBe(
      `stevedore: ${env.server.host}: listing quotas is refused (403 DENIED): quotas are registry-wide: log in as one of the registry's admins (auth.admins)\n`,
    );
  }, 60_000);
});
