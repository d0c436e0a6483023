// What a copy shows while it runs: a bar per blob with sizes and speed on a terminal (the CLI run
// under a pseudo-terminal with util-linux `script`), the plain line-per-event output elsewhere.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes } from '../../cli/copy-progress.js';
import { startServer, type RunningServer } from '../../server/index.js';
import { multiLayerImage, writeLayout, type BuiltImage } from '../helpers/oci-image-builder.js';
import { CLI } from '../helpers/stevedore-process.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let dir: string;
let server: RunningServer;
let host: string;
let image: BuiltImage;

const env = () => ({ ...process.env, DOCKER_CONFIG: join(dir, 'docker-config') });
const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const short = (digest: string) => digest.slice('sha256:'.length, 'sha256:'.length + 12);

/** Runs stevedore with a pseudo-terminal as its standard output and error; returns what the terminal received. */
function onTerminal(args: string[]): Promise<Run> {
  // 100 columns, so no line is cut at the terminal's width.
  const cmd = `stty cols 100 rows 40 2>/dev/null; exec ${[process.execPath, CLI, ...args].map(quote).join(' ')}`;
  return new Promise((resolve) => {
    execFile('script', ['-qfec', cmd, '/dev/null'], { env: env(), timeout: 120_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Runs stevedore with pipes (as in CI). */
function piped(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: env(), timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The terminal's output as lines of text: control sequences removed, split at carriage returns too. */
function screenLines(raw: string): string[] {
  // eslint-disable-next-line no-control-regex
  // Cursor moves and erases separate what is drawn (a bar redrawn after moving down follows the
  // previous one with no newline between them); colours and other sequences are just dropped.
  return raw
    .replace(/\x1b\[[0-9;?]*[A-HJKf]/g, '\n')
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
    .split(/\r\n|\r|\n/)
    .map((l) => l.trimEnd());
}

/** The last drawing of each blob's bar, by the short digest it starts with. */
function finalBars(lines: string[]): Map<string, string> {
  const bars = new Map<string, string>();
  for (const l of lines) {
    const m = /^([0-9a-f]{12}) (config|layer ) \[/.exec(l);
    if (m) bars.set(m[1]!, l);
  }
  return bars;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'copy-progress-'));
  server = await startServer({ dataDir: join(dir, 'registry'), addr: '127.0.0.1:0', logLevel: 'silent' });
  host = new URL(server.url).host;
  image = multiLayerImage({ tag: 'v1', randomBytes: 8 << 20 });
  await writeLayout(join(dir, 'image'), image);
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('on a terminal', () => {
  it('draws a bar per blob that reaches 100% with its size and speed', async () => {
    const r = await onTerminal(['push', `oci:${join(dir, 'image')}:v1`, `${host}/progress/tty:v1`]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/\x1b\[/); // drawn in place with terminal control sequences
    const lines = screenLines(r.stdout);
    const bars = finalBars(lines);
    expect(bars.size).toBe(image.blobs.length);
    for (const b of image.blobs) {
      const size = formatBytes(b.descriptor.size);
      const kind = b === image.config ? 'config' : 'layer ';
      const bar = bars.get(short(b.descriptor.digest));
      expect(bar, b.descriptor.digest).toBeDefined();
      expect(bar).toMatch(new RegExp(`^${short(b.descriptor.digest)} ${kind} \\[█+\\] 100% ${size}/${size} [0-9.]+ [KMGT]?B/s$`));
    }
    // The plain per-event lines are not printed on a terminal; the result still is.
    expect(lines.some((l) => l.startsWith('Copying blob'))).toBe(false);
    expect(lines).toContain(`Wrote manifest ${image.manifest.digest}`);
    expect(lines.some((l) => l.startsWith(`Pushed ${host}/progress/tty:v1@${image.manifest.digest}`))).toBe(true);
  });

  it('shows blobs that are already there as full bars saying so', async () => {
    const r = await onTerminal(['push', `oci:${join(dir, 'image')}:v1`, `${host}/progress/tty:v1`]);
    expect(r.code, r.stdout).toBe(0);
    const bars = finalBars(screenLines(r.stdout));
    expect(bars.size).toBe(image.blobs.length);
    for (const b of image.blobs) {
      const size = formatBytes(b.descriptor.size);
      expect(bars.get(short(b.descriptor.digest))).toMatch(new RegExp(`\\] 100% ${size}/${size} already present$`));
    }
  });

  it('draws nothing with --quiet or --json', async () => {
    const q = await onTerminal(['push', '-q', `oci:${join(dir, 'image')}:v1`, `${host}/progress/quiet:v1`]);
    expect(q.code, q.stdout).toBe(0);
    expect(screenLines(q.stdout).filter((l) => l)).toEqual([image.manifest.digest]);
    const j = await onTerminal(['push', '--json', `oci:${join(dir, 'image')}:v1`, `${host}/progress/json:v1`]);
    expect(j.code, j.stdout).toBe(0);
    const out = screenLines(j.stdout).filter((l) => l);
    expect(out).toHaveLength(1);
    expect(JSON.parse(out[0]!).digest).toBe(image.manifest.digest);
  });

  it('ends the bars before a one-line error', async () => {
    const r = await onTerminal(['pull', `${host}/progress/none:v1`, '--output', `oci:${join(dir, 'none')}`]);
    expect(r.code).toBe(1);
    const lines = screenLines(r.stdout).filter((l) => l);
    expect(lines.pop()).toMatch(/^stevedore: .*MANIFEST_UNKNOWN/);
    expect(r.stdout).not.toMatch(/\x1b\[\?25l/); // no bar was started, so the cursor was never hidden
  });
});

describe('not on a terminal', () => {
  it('prints the plain line-per-event output, without control sequences', async () => {
    const r = await piped(['push', `oci:${join(dir, 'image')}:v1`, `${host}/progress/plain:v1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/\x1b/);
    const lines = r.stderr.trim().split('\n');
    const expected = image.blobs.flatMap((b) => {
      const d = `sha256:${short(b.descriptor.digest)}`;
      const size = formatBytes(b.descriptor.size).replace('.', '\\.');
      return [new RegExp(`^Copying blob ${d} \\(${size}\\)$`), new RegExp(`^Copied blob ${d} \\(${size} in \\d+\\.\\d s, [0-9.]+ [KMGT]?B/s\\)$`)];
    });
    expect(lines).toHaveLength(expected.length + 1);
    for (const re of expected) expect(lines.filter((l) => re.test(l)), re.source).toHaveLength(1);
    expect(lines.at(-1)).toBe(`Wrote manifest ${image.manifest.digest}`);
    expect(r.stdout).toMatch(new RegExp(`^Pushed ${host}/progress/plain:v1@${image.manifest.digest} \\(4 blobs copied, `));
  });
});
