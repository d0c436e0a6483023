import { describe, expect, it } from 'vitest';
import { progressMode } from './progress.js';
import { makeTtyProgress } from './progress-tty.js';

describe('progressMode', () => {
  it('auto is the terminal view on a terminal, plain elsewhere or on a dumb one', () => {
    expect(progressMode(false, 'auto', { isTTY: true }, 'xterm')).toBe('tty');
    expect(progressMode(false, 'auto', { isTTY: false }, 'xterm')).toBe('plain');
    expect(progressMode(false, 'auto', { isTTY: true }, 'dumb')).toBe('plain');
    expect(progressMode(true, 'auto', { isTTY: true }, 'xterm')).toBe('quiet');
    expect(progressMode(false, 'json', {}, undefined)).toBe('json');
    expect(() => progressMode(false, 'fancy', {}, undefined)).toThrow('--progress fancy: auto, plain, tty or json');
  });
});

describe('makeTtyProgress', () => {
  it('draws each frame over the last one, fitted one column short of the width and to the height', () => {
    let out = '';
    const p = makeTtyProgress((t) => (out += t), { columns: () => 40, rows: () => 5 });
    const t0 = performance.now();
    const a = p.vertex('[1/3] RUN a step whose text is far too long for forty columns', t0);
    a.output('line one');
    a.done(t0 + 1500);
    const b = p.vertex('[2/3] COPY . /', t0);
    b.cached(t0);
    const c = p.vertex('[3/3] RUN c', t0);
    c.output('c says hi');
    c.error('exit code: 2', t0 + 200);
    p.note('[Warning] a note');
    p.close!();
    const [frame] = out.split('[Warning]');
    const lines = frame!.replace(/^\x1b\[J/, '').split('\n').slice(0, -1);
    for (const l of lines) expect(l.length).toBeLessThan(40);
    // 5 rows: the header and the latest three lines.
    expect(lines).toEqual([
      '[+] Building 0.0s (3/3) ERROR'.replace('0.0s', lines[0]!.split(' ')[2]!),
      ' => ERROR [3/3] RUN c              0.2s',
      ' => => # c says hi',
      ' => => # ERROR: exit code: 2',
    ]);
    expect(out.endsWith('[Warning] a note\n')).toBe(true);
    p.close!();
    expect(out.endsWith('[Warning] a note\n')).toBe(true); // once
  });

  it('moves the cursor up over the previous frame before the next', async () => {
    let out = '';
    const p = makeTtyProgress((t) => (out += t), { columns: () => 80, rows: () => 24 });
    const v = p.vertex('[1/1] RUN x');
    await new Promise((r) => setTimeout(r, 250));
    v.done();
    p.close!();
    const frames = out.split('\x1b[J').filter(Boolean);
    expect(frames.length).toBeGreaterThanOrEqual(2);
    expect(out.startsWith('\x1b[J[+] Building')).toBe(true);
    // Every later frame starts on the first line of the one before it (2 lines: header and step).
    expect(out.split('\x1b[J').slice(1, -1).every((f) => f.endsWith('\r\x1b[2A'))).toBe(true);
  });
});
