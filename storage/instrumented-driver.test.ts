import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FilesystemDriver } from './filesystem-driver.js';
import { InstrumentedDriver, type StorageMetricsSink } from './instrumented-driver.js';
import { kindOf, UnsupportedError } from '../util/errors.js';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'instrumented-'));
});
afterEach(() => rm(root, { recursive: true, force: true }));

describe('InstrumentedDriver', () => {
  it('reports every operation with its driver, outcome and duration, and passes results through', async () => {
    const seen: string[] = [];
    const sink: StorageMetricsSink = {
      storageOperation(driver, operation, outcome, seconds) {
        expect(seconds).toBeGreaterThanOrEqual(0);
        seen.push(`${driver} ${operation} ${outcome}`);
      },
    };
    const d = new InstrumentedDriver(new FilesystemDriver({ rootDirectory: root, noSync: true }), sink);
    expect(d.name).toBe('filesystem');
    await d.putContent('/a/b', Buffer.from('x'));
    expect((await d.getContent('/a/b')).toString()).toBe('x');
    await expect(d.stat('/missing')).rejects.toThrow(/not found/);
    const w = await d.writer('/up/data', false);
    await w.write(Buffer.from('abc'));
    expect(w.size).toBe(3);
    await w.commit();
    await w.close();
    await d.move('/up/data', '/dst/moved');
    expect(await d.list('/dst')).toEqual(['/dst/moved']);
    await d.delete('/dst/moved');
    expect(seen).toEqual([
      'filesystem putContent ok',
      'filesystem getContent ok',
      'filesystem stat not_found',
      'filesystem writer ok',
      'filesystem writer.write ok',
      'filesystem writer.commit ok',
      'filesystem writer.close ok',
      'filesystem move ok',
      'filesystem list ok',
      'filesystem delete ok',
    ]);
  });

  it('declares the wrapped driver\'s capabilities; an unsupported method fails with the typed error', async () => {
    const sink: StorageMetricsSink = { storageOperation: () => undefined };
    const plain = new InstrumentedDriver(new FilesystemDriver({ rootDirectory: root }), sink);
    expect(plain.capabilities).toEqual({ readableWriter: true, redirect: false, randomAccess: true, purgeStale: true, walk: true, bulk: true, link: true, touch: true });
    const err = await plain.redirectURL('/x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedError);
    expect(kindOf(err)).toBe('unsupported');
    const inner = Object.assign(new FilesystemDriver({ rootDirectory: root }), {
      capabilities: { readableWriter: true, redirect: true, randomAccess: true, purgeStale: true, walk: true },
      redirectURL: async (p: string) => `https://example.test${p}`,
      purgeStale: async () => 7,
    });
    const seen: string[] = [];
    const d = new InstrumentedDriver(inner, { storageOperation: (_d, op, outcome) => seen.push(`${op} ${outcome}`) });
    expect(d.capabilities.redirect).toBe(true);
    expect(await d.redirectURL('/x')).toBe('https://example.test/x');
    expect(await d.purgeStale(new Date())).toBe(7);
    expect(seen).toEqual(['redirectURL ok', 'purgeStale ok']);
  });

  it('passes a readable writer through: its size grows and its bytes read back', async () => {
    const seen: string[] = [];
    const d = new InstrumentedDriver(new FilesystemDriver({ rootDirectory: root, noSync: true }), { storageOperation: (_d, op, outcome) => seen.push(`${op} ${outcome}`) });
    await d.putContent('/up/data', Buffer.alloc(0));
    const w = await d.readableWriter('/up/data');
    await w.write(Buffer.from('hello'));
    await w.write(Buffer.from(' world'));
    expect(w.size).toBe(11);
    const buf = Buffer.alloc(11);
    expect(await w.read(buf, 0, 11)).toBe(11);
    expect(buf.toString()).toBe('hello world');
    await w.commit();
    expect(await w.read(buf, 6, 5)).toBe(5);
    expect(buf.subarray(0, 5).toString()).toBe('world');
    await w.close();
    expect(seen).toEqual(['putContent ok', 'writer ok', 'writer.write ok', 'writer.write ok', 'writer.commit ok', 'writer.close ok']);
  });

  it('never lets a failing sink break storage', async () => {
    const d = new InstrumentedDriver(new FilesystemDriver({ rootDirectory: root, noSync: true }), {
      storageOperation() {
        throw new Error('sink broken');
      },
    });
    await d.putContent('/x', Buffer.from('1'));
    expect((await d.getContent('/x')).toString()).toBe('1');
  });
});
