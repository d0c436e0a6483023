// `stevedore gc` and `stevedore scrub`: storage maintenance, safe to run while `stevedore serve`
// serves the same storage (see storage/garbage-collector.ts for why).
import type { Command } from 'commander';
import type { Config, ConfigInput } from '../server/config.js';
import type { GcRunResult } from '../server/gc-scheduler.js';

interface StorageFlags {
  config?: string;
  dataDir?: string;
}

async function loadStorageConfig(opts: StorageFlags): Promise<Config> {
  // The configuration module only: the server's (Koa, auth, metrics) is not needed to collect garbage.
  const { ConfigError, loadConfig } = await import('../server/config.js');
  const overrides: ConfigInput = {};
  if (opts.dataDir) overrides.storage = { filesystem: { rootDirectory: opts.dataDir } };
  try {
    return loadConfig({ file: opts.config, env: process.env, overrides });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`stevedore: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
}

/**
 * A run by hand goes into the same audit file as the server's runs (appended: one line per record,
 * made durable before the command ends). Only the file: stdout is this command's own report, and
 * notification endpoints are the server's to send to.
 */
async function auditByHand(config: Config, result: GcRunResult): Promise<void> {
  if (!config.audit.file || result.gc.dryRun) return;
  const [{ AuditLog }, { auditGcRun }, { createLogger }] = await Promise.all([
    import('../server/audit/audit-log.js'),
    import('../server/audit/registry-audit.js'),
    import('../server/logger.js'),
  ]);
  const audit = new AuditLog({ ...config.audit, stdout: false, endpoints: [] }, createLogger('warn', process.stderr));
  auditGcRun(audit, result, 'stevedore gc');
  await audit.close();
}

export function registerMaintenanceCommands(program: Command): void {
  program
    .command('gc')
    .description('apply retention policies and delete unreferenced content (online: the registry may keep serving)')
    .option('-c, --config <file>', 'YAML configuration file (storage and the gc section)')
    .option('--data-dir <dir>', 'filesystem storage directory (storage.filesystem.rootDirectory)')
    .option('--dry-run', 'print what would be deleted, delete nothing')
    .option('--delete-untagged', 'also delete manifests no tag reaches (gc.deleteUntagged)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: StorageFlags & { dryRun?: boolean; deleteUntagged?: boolean; json?: boolean }) => {
      // Local storage (named here, or the default): the walk's thread starts while the
      // configuration loads. Only its own small module: what the rest needs is what it overlaps.
      if (opts.dataDir !== undefined || (opts.config === undefined && !process.env.STEVEDORE_STORAGE_DRIVER)) {
        (await import('../storage/fs-bulk.js')).prestartBulkThread();
      }
      const config = await loadStorageConfig(opts);
      const { createStorageDriver } = await import('../server/storage-driver.js');
      const { runGc, summary } = await import('../server/gc-scheduler.js');
      const { formatGcDeletion, formatTagDeletion } = await import('../storage/index.js');
      const { formatByteSize: formatBytes } = await import('../server/policy/byte-size.js');
      const driver = await createStorageDriver(config);
      try {
        const result = await runGc(driver, config, { dryRun: opts.dryRun, deleteUntagged: opts.deleteUntagged || undefined });
        // The run is done; only the registry's Operations view misses it.
        if (result.recordError) console.error(`stevedore: warning: the run could not be recorded in the storage for the web UI: ${result.recordError.message}`);
        await auditByHand(config, result);
        if (opts.json) {
          process.stdout.write(`${JSON.stringify({ ...summary(result), tags: result.tags, deleted: result.gc.deleted }, null, 2)}\n`);
          return;
        }
        const lines = [...result.tags.map(formatTagDeletion), ...result.gc.deleted.map(formatGcDeletion)];
        if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
        const s = summary(result);
        process.stdout.write(
          `${opts.dryRun ? 'would delete' : 'deleted'} ${Number(s.objectsFreed)} objects (${result.tags.length} tags, ` +
            `${Number(s.manifestsDeleted)} manifests, ${Number(s.linksDeleted)} links, ${result.gc.blobsFreed} blobs), ` +
            `freeing ${formatBytes(result.gc.bytesFreed)} (${result.gc.bytesFreed} bytes) in ${(result.durationMs / 1000).toFixed(2)} s` +
            `${result.gc.restored ? `; ${result.gc.restored} kept for pushes made during the run` : ''}\n`,
        );
      } finally {
        (driver as { destroy?: () => void }).destroy?.();
      }
    });

  program
    .command('scrub')
    .description('re-hash stored blobs and manifests and report those that no longer match their digest (exit status 1)')
    .option('-c, --config <file>', 'YAML configuration file (storage)')
    .option('--data-dir <dir>', 'filesystem storage directory (storage.filesystem.rootDirectory)')
    .option('--quarantine', 'move corrupted content to /quarantine in the storage so it is no longer served')
    .action(async (opts: StorageFlags & { quarantine?: boolean }) => {
      const config = await loadStorageConfig(opts);
      const { createStorageDriver } = await import('../server/storage-driver.js');
      const { scrub, formatScrubProblem } = await import('../storage/index.js');
      const { formatByteSize: formatBytes } = await import('../server/policy/byte-size.js');
      const driver = await createStorageDriver(config);
      try {
        const report = await scrub(driver, { quarantine: opts.quarantine });
        for (const p of report.problems) process.stdout.write(`${formatScrubProblem(p)}\n`);
        process.stdout.write(
          `checked ${report.checked} blobs (${formatBytes(report.bytes)}) in ${(report.durationMs / 1000).toFixed(2)} s: ${report.problems.length} problems\n`,
        );
        if (report.problems.length > 0) process.exitCode = 1;
      } finally {
        (driver as { destroy?: () => void }).destroy?.();
      }
    });
}
