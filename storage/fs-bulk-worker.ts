// The worker thread of storage/fs-bulk.ts: runs the bulk operations it is sent and answers each with its result or its error.
import { parentPort } from 'node:worker_threads';
import { runBulkOp, type BulkRequest } from './fs-bulk-ops.js';

parentPort!.on('message', async (req: BulkRequest & { id: number }) => {
  try {
    parentPort!.postMessage({ id: req.id, ok: true, result: await runBulkOp(req) });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    parentPort!.postMessage({ id: req.id, ok: false, message: e.message, code: e.code });
  }
});
