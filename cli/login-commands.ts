// `stevedore login` and `stevedore logout`: options only; login-actions.ts does the work.
import type { Command } from 'commander';
import type { LoginFlags } from './login-actions.js';

const actions = () => import('./login-actions.js');

export function registerLoginCommands(program: Command): void {
  program
    .command('login')
    .description('log in to a registry and store the credentials in Docker config.json')
    .argument('[registry]', 'registry host[:port] (default docker.io)')
    .option('-u, --username <name>')
    .option('-p, --password <password>', 'insecure: visible in the process list; prefer --password-stdin')
    .option('--password-stdin', 'read the password from standard input')
    .option('--insecure', 'the registry is insecure (HTTPS without verification, else plain HTTP)')
    .option('--plain-http', 'use plain HTTP')
    .action(async (registryText: string | undefined, flags: LoginFlags) => (await actions()).loginCommand(registryText, flags));

  program
    .command('logout')
    .description('remove the stored credentials of a registry')
    .argument('[registry]', 'registry host[:port] (default docker.io)')
    .action(async (registryText: string | undefined) => (await actions()).logoutCommand(registryText));
}
