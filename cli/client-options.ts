// Options every registry-facing command shares, and turning them into a Client.
import type { Command } from 'commander';
import type { Client, CredentialSource, Endpoint } from '../client/index.js';

export interface ClientFlags {
  insecure?: boolean;
  plainHttp?: boolean;
  insecureRegistry?: string[];
  creds?: string;
  clientConfig?: string;
  /** Used instead of the stored credentials (login checks exactly the ones it was given). */
  credentials?: CredentialSource;
  quiet?: boolean;
  json?: boolean;
}

export function addClientOptions(cmd: Command): Command {
  return cmd
    .option('--insecure', 'treat every registry as insecure: HTTPS without verification, else plain HTTP')
    .option('--plain-http', 'use plain HTTP for every registry')
    .option('--insecure-registry <host>', 'an insecure registry (host, host:port or CIDR); repeatable', (v: string, prev: string[] = []) => [...prev, v])
    .option('--creds <user:password>', 'credentials to use instead of the stored ones')
    .option('--client-config <file>', 'client configuration (mirrors, insecure registries); default ~/.config/stevedore/client.yaml')
    .option('-q, --quiet', 'print only the result')
    .option('--json', 'print the result as JSON');
}

/** The client for these flags; the client modules load here, not when the options are declared. */
export async function clientFrom(flags: ClientFlags): Promise<Client> {
  const [{ Client }, { ClientError }, { CredentialChain, defaultCredentialSources, StaticCredentials }, { loadClientConfig }] = await Promise.all([
    import('../client/client.js'),
    import('../client/errors.js'),
    import('../client/auth/credentials.js'),
    import('../client/client-config.js'),
  ]);
  let credentials = flags.credentials;
  if (flags.creds !== undefined) {
    const colon = flags.creds.indexOf(':');
    if (colon <= 0) throw new ClientError('--creds must be USER:PASSWORD');
    credentials = new CredentialChain([new StaticCredentials({ username: flags.creds.slice(0, colon), password: flags.creds.slice(colon + 1) }), defaultCredentialSources()]);
  }
  const config = await loadClientConfig({ file: flags.clientConfig });
  const onMirrorFallback = flags.quiet || flags.json ? undefined : (e: Endpoint, err: Error) => process.stderr.write(`${e.description} failed, trying the next: ${err.message}\n`);
  return new Client({ allInsecure: flags.insecure, plainHttp: flags.plainHttp, insecure: flags.insecureRegistry, credentials, config, onMirrorFallback });
}
