// One copy of an image as the client commands show it: progress (a bar per blob on a terminal, a
// line per event otherwise), Ctrl-C removing partial files, and the one result line (or JSON).
// Shared by copy, pull -o, push of a layout or archive, and push from the local store.
import { ClientError, removeTempFilesSync, type Client, type CopyOptions, type CopyResult, type LocationOpener } from '../client/index.js';
import { clientFrom, type ClientFlags } from './client-options.js';
import { archiveLayerLine, formatBytes, lineProgress, ttyProgress, type Progress } from './copy-progress.js';

/** `-j N`: blobs transferred at once. */
export function concurrencyOf(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new ClientError('--concurrency must be an integer from 1 to 64');
  return n;
}

export async function transfer(
  flags: ClientFlags,
  opts: CopyOptions,
  destination: string,
  verb: string,
  fn: (opener: LocationOpener & { client: Client }, say?: (line: string) => void) => Promise<CopyResult>,
  source?: string,
): Promise<void> {
  let progress: Progress | undefined;
  let say: ((line: string) => void) | undefined;
  if (!flags.quiet && !flags.json) {
    progress = process.stderr.isTTY ? ttyProgress(process.stderr) : undefined;
    say = progress?.line ?? ((l) => process.stderr.write(`${l}\n`));
    opts.onEvent = progress?.onEvent ?? lineProgress(say);
  }
  // Ctrl-C or SIGTERM mid-copy: remove partial blobs, then exit as interrupted.
  const interrupted = (signal: NodeJS.Signals) => {
    progress?.stop();
    removeTempFilesSync();
    process.stderr.write(`stevedore: interrupted (${signal}); nothing partial was kept\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  let result: CopyResult;
  try {
    const client = await clientFrom(flags);
    try {
      result = await fn(
        {
          client,
          registryClient: (r) => client.registryClient(r),
          mirrorsFor: (r) => client.mirrorsFor(r),
          onMirrorFallback: client.onMirrorFallback,
          onArchiveLayer: say && ((e) => say(archiveLayerLine(e))),
        },
        say,
      );
    } finally {
      await client.close();
    }
  } finally {
    progress?.stop();
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ ...(source ? { source } : {}), destination, ...result })}\n`);
  } else if (flags.quiet) {
    process.stdout.write(`${result.digest}\n`);
  } else {
    const b = result.blobs;
    const from = result.servedBy ? ` from ${result.servedBy}` : '';
    process.stdout.write(`${verb} ${destination}@${result.digest}${from} (${b.copied} blobs copied, ${formatBytes(b.bytes)}; ${b.skipped} already present; ${b.mounted} mounted)\n`);
  }
}
