// Progress of a copy as plain lines, one per event (CI logs and pipes).
import type { CopyEvent } from '../client/index.js';

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

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
        break;
    }
  };
}
