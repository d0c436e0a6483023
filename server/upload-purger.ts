// Periodically deletes uploads that were started long ago and never finished.
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import type { UploadStore } from '../storage/index.js';

export function startUploadPurger(uploads: UploadStore, config: Config, log: Logger): () => void {
  const { enabled, maxAge, interval } = config.storage.uploadPurging;
  if (!enabled) return () => undefined;
  const run = async () => {
    try {
      const purged = await uploads.purge(new Date(Date.now() - maxAge));
      if (purged > 0) log.info({ purged }, 'purged stale uploads');
    } catch (err) {
      log.error({ err }, 'upload purge failed');
    }
  };
  void run();
  const timer = setInterval(run, Math.max(interval, 1000));
  timer.unref();
  return () => clearInterval(timer);
}
