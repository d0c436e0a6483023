// Unpacking a layer blob on a worker thread: unpacking is mostly system calls made synchronously
// (see apply-layer.ts), so layers unpacked at once would otherwise share, and block, the main
// thread (downloads included). Without the compiled worker (tests running the TypeScript
// sources) or with STEVEDORE_UNPACK_WORKERS=0, the layer is unpacked on the calling thread.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { applyLayer, LayerError, type ApplyResult } from './apply-layer.js';
import { openLayerTar, UnsupportedCompressionError } from './decompress.js';
import { ToolError } from './node-tools.js';
import { TarFormatError } from './tar-reader.js';

const WORKER = new URL('./unpack-worker.js', import.meta.url);
const workerFile = fileURLToPath(WORKER);

const ERRORS: Record<string, new (message: string) => Error> = { LayerError, TarFormatError, UnsupportedCompressionError, ToolError };

type Reply = { ok: true; result: ApplyResult } | { ok: false; kind: string; message: string; code?: string };

export async function unpackLayer(blobFile: string, dir: string): Promise<ApplyResult> {
  if (process.env.STEVEDORE_UNPACK_WORKERS === '0' || !existsSync(workerFile)) return applyLayer(await openLayerTar(blobFile), dir);
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { workerData: { blobFile, dir } });
    let settled = false;
    worker.once('message', (reply: Reply) => {
      settled = true;
      if (reply.ok) {
        resolve(reply.result);
        return;
      }
      const Known = ERRORS[reply.kind];
      const err = Known ? new Known(reply.message) : Object.assign(new Error(reply.message), reply.code ? { code: reply.code } : {});
      reject(err);
    });
    worker.once('error', (err) => {
      settled = true;
      reject(err);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`the unpacking thread stopped (exit ${code}) before it finished ${blobFile}`));
    });
  });
}
