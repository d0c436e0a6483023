// What `stevedore login` and `logout` do, storing credentials as Docker does (their options are in
// login-commands.ts, which loads this module only when one of them runs).
import { join } from 'node:path';
import { ClientError, dockerConfigDir, removeCredentials, saveCredentials, StaticCredentials } from '../client/index.js';
import { DEFAULT_REGISTRY } from '../oci/index.js';
import { clientFrom, type ClientFlags } from './client-options.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Reads a line from the terminal without echoing it. */
function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    if (!stdin.isTTY) return reject(new ClientError('no terminal to ask for the password: use --password-stdin'));
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    let value = '';
    const onData = (d: Buffer) => {
      for (const ch of d.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          done();
          return resolve(value);
        }
        if (ch === '\u0003') {
          done();
          return reject(new ClientError('interrupted'));
        }
        if (ch === '\u007f') value = value.slice(0, -1);
        else value += ch;
      }
    };
    const done = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    stdin.on('data', onData);
  });
}

function registryArg(text: string | undefined): string {
  const r = (text ?? DEFAULT_REGISTRY).replace(/^(https?|docker):\/\//, '').replace(/\/(v1|v2)?\/?$/, '');
  if (!/^[A-Za-z0-9.\-[\]:]+$/.test(r)) throw new ClientError(`invalid registry ${JSON.stringify(text)}`);
  return r === 'index.docker.io' || r === 'registry-1.docker.io' ? DEFAULT_REGISTRY : r;
}

export type LoginFlags = ClientFlags & { username?: string; password?: string; passwordStdin?: boolean };

/** `login [REGISTRY]`. */
export async function loginCommand(registryText: string | undefined, flags: LoginFlags): Promise<void> {
  const registry = registryArg(registryText);
  if (flags.password !== undefined && flags.passwordStdin) throw new ClientError('--password and --password-stdin cannot be used together');
  if (!flags.username) throw new ClientError('a username is needed: --username NAME');
  const password = flags.passwordStdin ? await readStdin() : (flags.password ?? (await promptHidden('Password: ')));
  if (!password) throw new ClientError('the password is empty');
  const creds = { username: flags.username, password };
  const client = await clientFrom({ ...flags, credentials: new StaticCredentials(creds) } as ClientFlags);
  try {
    const { identityToken } = await client.auth.login(registry, creds);
    const configPath = join(dockerConfigDir(), 'config.json');
    const where = await saveCredentials(configPath, registry, identityToken ? { username: flags.username, identityToken } : creds);
    process.stdout.write(`Login Succeeded (credentials for ${registry} stored in ${where})\n`);
  } finally {
    await client.close();
  }
}

/** `logout [REGISTRY]`. */
export async function logoutCommand(registryText: string | undefined): Promise<void> {
  const registry = registryArg(registryText);
  const removed = await removeCredentials(join(dockerConfigDir(), 'config.json'), registry);
  if (!removed) throw new ClientError(`not logged in to ${registry}`);
  process.stdout.write(`Removed login credentials for ${registry}\n`);
}
