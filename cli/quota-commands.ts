// `stevedore quota ls REGISTRY`: the registry's storage quotas with their usage (GET /v2/_quotas,
// server/routes/quotas.ts; an admin's credentials when access control is on).
import type { Command } from 'commander';
import { ClientError, parseErrorBody, RegistryResponseError } from '../client/index.js';
import { addClientOptions, clientFrom, type ClientFlags } from './client-options.js';
import { formatByteSize as size } from '../server/policy/byte-size.js';
import { table } from './table.js';

interface QuotaRow {
  name: string;
  repositories: string[];
  limitBytes: number;
  usedBytes: number;
  blobs: number;
}

export function registerQuotaCommands(program: Command): void {
  const quota = program.command('quota').description('storage quotas of a registry');
  addClientOptions(quota.command('ls').description('list the storage quotas of a registry with their usage').argument('<registry>')).action(
    async (registry: string, flags: ClientFlags) => {
      const host = registry.replace(/^docker:\/\//, '').replace(/\/+$/, '');
      if (!/^[A-Za-z0-9.\-[\]:]+$/.test(host)) throw new ClientError(`invalid registry ${JSON.stringify(registry)}`);
      const client = await clientFrom(flags);
      try {
        const req = { method: 'GET', path: '/v2/_quotas' };
        const res = await client.registryClient(host).call(req, ['registry:admin:*']);
        const text = await res.body.text();
        if (res.status === 404) {
          throw new ClientError(`${host} has no quota endpoint`, { kind: 'unsupported', hint: 'quotas need a Stevedore registry with policy.quotas' });
        }
        if (res.status === 401 || res.status === 403) {
          throw new ClientError(`${host}: listing quotas is refused (${res.status}${parseErrorBody(text).code ? ` ${parseErrorBody(text).code}` : ''})`, {
            kind: res.status === 401 ? 'unauthorized' : 'denied',
            hint: 'quotas are registry-wide: log in as one of the registry\'s admins (auth.admins)',
          });
        }
        if (res.status !== 200) {
          const e = parseErrorBody(text);
          throw new RegistryResponseError(req.method, res.url, res.status, e.code, e.message, e.errors);
        }
        const quotas = (JSON.parse(text) as { quotas: QuotaRow[] }).quotas;
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ registry: host, quotas })}\n`);
          return;
        }
        if (quotas.length === 0) {
          if (!flags.quiet) process.stdout.write(`no quotas are configured on ${host}\n`);
          return;
        }
        const rows = quotas.map((q) => [
          q.name,
          q.repositories.join(','),
          size(q.usedBytes),
          size(q.limitBytes),
          q.limitBytes > 0 ? `${Math.round((q.usedBytes / q.limitBytes) * 100)}%` : '-',
          String(q.blobs),
        ]);
        process.stdout.write(table([['NAME', 'REPOSITORIES', 'USED', 'LIMIT', 'USE%', 'BLOBS'], ...rows]));
      } finally {
        await client.close();
      }
    },
  );
}
