// Progress of a copy: bars redrawn in place on a terminal; plain lines, one per event, elsewhere
// (CI logs and pipes).
import { createRequire } from 'node:module';
import type { SingleBar } from 'cli-progress';
import type { ArchiveLayerEvent, CopyEvent } from '../client/index.js';
import { formatBytes } from './table.js';

// Sizes as the listings print them (kept in table.ts, which `images` loads without the progress code).
export { formatBytes };

const short = (d: string) => d.slice(0, d.indexOf(':') + 13);

export function lineProgress(write: (line: string) => void): (e: CopyEvent) => void {
  const started = new Map<string, number>();
  return (e) => {
    switch (e.type) {
      case 'source':
        write(`Pulling from ${e.servedBy}`);
        break;
      case 'platform':
        write(`Selected platform ${e.platform}: ${e.digest}`);
        break;
      case 'blob-exists':
        write(`Blob ${short(e.desc.digest)} already present (${formatBytes(e.desc.size)})`);
        break;
      case 'blob-mounted':
        write(`Blob ${short(e.desc.digest)} mounted from ${e.from}`);
        break;
      case 'blob-start':
        started.set(e.desc.digest, Date.now());
        write(`Copying blob ${short(e.desc.digest)} (${formatBytes(e.desc.size)})`);
        break;
      case 'blob-done': {
        const secs = Math.max(0.001, (Date.now() - (started.get(e.desc.digest) ?? Date.now())) / 1000);
        write(`Copied blob ${short(e.desc.digest)} (${formatBytes(e.desc.size)} in ${secs.toFixed(1)} s, ${formatBytes(e.desc.size / secs)}/s)`);
        break;
      }
      case 'manifest':
        write(`Wrote ${e.top ? 'manifest' : 'child manifest'} ${e.digest}`);
        break;
      case 'blob-progress':
      case 'blob-failed': // the error that follows says what failed
        break;
    }
  };
}

/** What a docker archive source is doing before the copy starts. */
export function archiveLayerLine(e: ArchiveLayerEvent): string {
  return `${e.action === 'compress' ? 'Compressing' : 'Checking'} layer ${e.layer} (${formatBytes(e.size)})`;
}

export interface Progress {
  onEvent: (e: CopyEvent) => void;
  /** A line of its own (printed above or after the bars). */
  line(text: string): void;
  /** Draws the final state and gives the terminal back (cursor shown); call once the copy ends, however it ends. */
  stop(): void;
}

const CONFIG_TYPES = new Set(['application/vnd.docker.container.image.v1+json', 'application/vnd.oci.image.config.v1+json']);

type BlobEvent = { desc: { digest: string; mediaType: string; size: number } };

/**
 * Progress of a copy for a terminal: one bar per blob (layers and config) with its sizes and speed,
 * redrawn in place (cli-progress), as `docker pull` shows them. Lines for other events are printed
 * before the bars start, or after they end.
 */
export function ttyProgress(stream: NodeJS.WriteStream): Progress {
  // Loaded only when bars are drawn (a terminal): ~20 modules every other command need not load.
  const { MultiBar } = createRequire(import.meta.url)('cli-progress') as typeof import('cli-progress');
  const multi = new MultiBar({
    stream,
    // 12 hex digits of the digest, as Docker names layers; about 70 columns in all.
    format: '{id} {kind} [{bar}] {percentage}% {done}/{size} {rate}',
    barsize: 15,
    autopadding: true,
    hideCursor: true,
    clearOnComplete: false,
    barCompleteChar: '\u2588',
    barIncompleteChar: '\u2591',
    fps: 10,
  });
  interface Row {
    bar: SingleBar;
    started: number;
    value: number;
    size: number;
  }
  const rows = new Map<string, Row>();
  const pending: string[] = [];
  let active = false;
  let stopped = false;
  const line = (text: string) => {
    if (active) pending.push(text);
    else stream.write(`${text}\n`);
  };
  const values = (r: Row, note?: string) => {
    const secs = Math.max(0.001, (Date.now() - r.started) / 1000);
    return { done: formatBytes(r.value), size: formatBytes(r.size), rate: note ?? `${formatBytes(r.value / secs)}/s` };
  };
  const add = (e: BlobEvent, value: number, note?: string): Row => {
    const hex = e.desc.digest.slice(e.desc.digest.indexOf(':') + 1, e.desc.digest.indexOf(':') + 13);
    const row: Row = { started: Date.now(), value, size: e.desc.size, bar: undefined as unknown as SingleBar };
    // cli-progress counts progress against the total: an empty blob is 1 of 1 so that it shows 100%.
    row.bar = multi.create(Math.max(1, e.desc.size), Math.max(value, e.desc.size === 0 && value > 0 ? 1 : 0), {
      id: hex,
      kind: CONFIG_TYPES.has(e.desc.mediaType) ? 'config' : 'layer ',
      ...values(row, note),
    });
    active = true;
    rows.set(e.desc.digest, row);
    return row;
  };
  return {
    line,
    onEvent(e) {
      if (stopped) return;
      switch (e.type) {
        case 'source':
          line(`Pulling from ${e.servedBy}`);
          break;
        case 'platform':
          line(`Selected platform ${e.platform}: ${e.digest}`);
          break;
        case 'blob-exists':
          add(e, e.desc.size || 1, 'already present');
          break;
        case 'blob-mounted':
          add(e, e.desc.size || 1, `mounted from ${e.from}`);
          break;
        case 'blob-start':
          add(e, 0);
          break;
        case 'blob-progress': {
          const r = rows.get(e.desc.digest);
          if (!r) break;
          r.value += e.bytes;
          r.bar.update(r.value, values(r));
          break;
        }
        case 'blob-done': {
          const r = rows.get(e.desc.digest) ?? add(e, 0);
          r.value = e.desc.size;
          r.bar.update(Math.max(1, e.desc.size), values(r));
          break;
        }
        case 'blob-failed': {
          const r = rows.get(e.desc.digest);
          r?.bar.update(r.value, values(r, 'failed'));
          break;
        }
        case 'manifest':
          line(`Wrote ${e.top ? 'manifest' : 'child manifest'} ${e.digest}`);
          break;
      }
    },
    stop() {
      if (stopped) return;
      stopped = true;
      if (active) multi.stop();
      active = false;
      for (const text of pending.splice(0)) stream.write(`${text}\n`);
    },
  };
}
