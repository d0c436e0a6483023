// Runs in a worker thread: unpacks one layer blob into a directory (unpack-layer.ts starts it).
import { parentPort, workerData } from 'node:worker_threads';
import { applyLayer } from './apply-layer.js';
import { openLayerTar } from './decompress.js';

const { blobFile, dir } = workerData as { blobFile: string; dir: string };
try {
  const result = await applyLayer(await openLayerTar(blobFile), dir);
  parentPort!.postMessage({ ok: true, result });
} catch (err) {
  const e = err as Error & { code?: string };
  parentPort!.postMessage({ ok: false, kind: e?.constructor?.name ?? 'Error', message: e?.message ?? String(err), code: e?.code });
}
