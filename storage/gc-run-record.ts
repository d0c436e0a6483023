// The summary of the last garbage collection run, kept in the storage itself (one small JSON
// object, layout.gcLastRun) so that every registry process on that storage shows the last run
// whoever made it: the scheduler of any server, or `stevedore gc` from a shell or a cron job.
// Written with putContent (atomic and durable on every driver: temp, fsync, rename on files; one
// PUT on S3); two runs finishing together leave one whole record, the last written.
import { isNotFound, type StorageDriver } from './driver.js';
import { layout } from './layout.js';

export interface GcRunRecord {
  startedAt: string;
  finishedAt: string;
  ok: boolean;
  /** What the run freed (the run's summary); absent when it failed. */
  result?: Record<string, unknown>;
  error?: string;
  /** Who ran it: the server's scheduler or the `stevedore gc` command, on which host, as which process. */
  by?: { runner: 'scheduler' | 'command'; host: string; pid: number };
}

/** Records a finished run (dry runs change nothing and are not recorded). */
export async function writeGcRunRecord(driver: StorageDriver, record: GcRunRecord): Promise<void> {
  await driver.putContent(layout.gcLastRun, Buffer.from(JSON.stringify(record)));
}

/**
 * The last recorded run; undefined when none was recorded (or the record is not one: a record
 * is a convenience, never a reason to fail the page that shows it).
 */
export async function readGcRunRecord(driver: StorageDriver): Promise<GcRunRecord | undefined> {
  let text: string;
  try {
    text = (await driver.getContent(layout.gcLastRun)).toString('utf8');
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
  try {
    const r = JSON.parse(text) as Partial<GcRunRecord> | null;
    if (!r || typeof r !== 'object' || typeof r.startedAt !== 'string' || typeof r.finishedAt !== 'string' || typeof r.ok !== 'boolean') return undefined;
    return r as GcRunRecord;
  } catch {
    return undefined;
  }
}
