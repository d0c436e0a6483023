// Local image commands as a docker user types them: `save` to standard output piped into `load`
// from standard input (another engine root), `history`, `image prune [-a]`. Real store, as root.
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineEnv, type EngineEnv } from '../helpers/engine-cli.js';
import { CLI } from '../helpers/stevedore-process.js';

let e: EngineEnv;
let other: EngineEnv;

beforeAll(async () => {
  e = await engineEnv();
  other = await engineEnv({ empty: true });
});

afterAll(async () => {
  await e?.close();
  await other?.close();
});

interface ImageRow {
  repository: string;
  tag: string;
  id: string;
  digest: string;
}
const images = async (env: EngineEnv) => JSON.parse(await env.ok(['images', '--json'])) as ImageRow[];

describe('save and load through a pipe', () => {
  it('save IMAGE | load: the other store has the same image under the same name', async () => {
    const code = await new Promise<number | null>((resolve) => {
      // A shell pipe, as a user runs it: neither side touches a file of its own.
      const sh = execFile('sh', ['-c', `STEVEDORE_ROOT=${e.root} "${process.execPath}" ${CLI} save busybox:test | STEVEDORE_ROOT=${other.root} "${process.execPath}" ${CLI} load`], (err, stdout) => {
        expect(stdout).toBe('Loaded image: busybox:test\n');
        resolve(err ? ((err as { code?: number }).code ?? 1) : 0);
      });
      sh.stdin?.end();
    });
    expect(code).toBe(0);
    const [a] = (await images(e)).filter((r) => r.repository === 'busybox');
    const [b] = await images(other);
    expect(b).toMatchObject({ repository: 'busybox', tag: 'test', id: a!.id });
    expect(await other.ok(['run', '--rm', 'busybox:test', 'cat', '/etc/layer-marker'])).toBe('from layer 1\n');
  });

  it('load with nothing on standard input: one line, non-zero', async () => {
    const r = await other.stevedore(['load'], { input: '' });
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^stevedore: /);
  });
});

describe('history', () => {
  it('one row per layer, newest first, the image id on the top one, sizes of the layers', async () => {
    const out = await e.ok(['history', 'busybox:test']);
    const rows = out.trim().split('\n');
    expect(rows[0]).toMatch(/^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    expect(rows).toHaveLength(4);
    const id = (await images(e)).find((r) => r.repository === 'busybox')!.id.slice(7, 19);
    expect(rows[1]).toMatch(new RegExp(`^${id}\\s`));
    expect(rows[2]).toMatch(/^<missing>\s/);
    // The bottom layer holds the busybox binary: the largest.
    expect(rows[3]).toMatch(/\d(\.\d)? MB/);
    const json = JSON.parse(await e.ok(['history', '--json', 'busybox:test'])) as { size: number }[];
    expect(json[2]!.size).toBeGreaterThan(json[0]!.size);
  });
});

describe('images --filter and --format', () => {
  it('reference globs, dangling, a template, and a bad template in one line', async () => {
    expect(await e.ok(['images', '--filter', 'reference=busy*', '--format', '{{.Repository}}:{{.Tag}}'])).toBe('busybox:test\n');
    expect(await e.ok(['images', '--filter', 'dangling=true', '-q'])).toBe('');
    expect((await e.ok(['images', '--filter', 'reference=*:test', '--format', '{{.Repository}}'])).split('\n').sort()).toEqual(['', 'app', 'busybox', 'nopath']);
    expect(await e.ok(['images', '--filter', 'reference=app', '--format', 'table {{.Repository}}\\t{{.Tag}}'])).toBe('REPOSITORY\tTAG\napp\ttest\n');
    const bad = await e.stevedore(['images', '--format', '{{.Nope}}']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/^stevedore: --format: no field Nope/);
  });
});

describe('image prune', () => {
  it('without -a keeps named images; with -a removes every image no container uses', async () => {
    await e.ok(['run', '--name', 'user-of-app', 'app:test', 'true']);
    const before = (await images(e)).map((r) => r.repository).sort();
    expect(before).toContain('busybox');
    expect((await e.ok(['image', 'prune'])).trim()).toMatch(/^Deleted 0 images/);
    expect((await images(e)).map((r) => r.repository).sort()).toEqual(before);
    const r = await e.ok(['image', 'prune', '-a', '-f']);
    expect(r).toMatch(new RegExp(`^Deleted ${before.length - 1} images, [1-9]\\d* blobs?, [0-9]\\d* layer snapshots?$`, 'm'));
    expect((await images(e)).map((x) => x.repository)).toEqual(['app']);
    await e.ok(['rm', 'user-of-app']);
  });
});

describe('system df', () => {
  it('images, containers and volumes with their sizes and what can be reclaimed', async () => {
    await other.ok(['run', '--name', 'df-user', '-v', 'dfvol:/data', 'busybox:test', 'sh', '-c', 'head -c 100000 /dev/zero > /data/blob; head -c 50000 /dev/zero > /upper-file']);
    const rows = JSON.parse(await other.ok(['system', 'df', '--json'])) as { type: string; total: number; active: number; size: number; reclaimable: number }[];
    const by = Object.fromEntries(rows.map((r) => [r.type, r]));
    expect(by.Images).toMatchObject({ total: 1, active: 1, reclaimable: 0 });
    expect(by.Images!.size).toBeGreaterThan(500_000); // the busybox binary
    expect(by.Containers).toMatchObject({ total: 1, active: 0 });
    expect(by.Containers!.size).toBeGreaterThanOrEqual(50_000);
    expect(by.Containers!.reclaimable).toBe(by.Containers!.size);
    expect(by['Local Volumes']).toMatchObject({ total: 1, active: 1, reclaimable: 0 });
    expect(by['Local Volumes']!.size).toBeGreaterThanOrEqual(100_000);
    expect(await other.ok(['system', 'df'])).toMatch(/^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE\nImages\s+1\s+1\s+/);
    await other.ok(['rm', 'df-user']);
    await other.ok(['volume', 'rm', 'dfvol']);
  });
});
