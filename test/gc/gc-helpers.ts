// Shared pieces of the garbage-collection suites: an in-process registry on a temp directory, an
// independent oracle of what is reachable (over HTTP only: catalog, tags, manifests, referrers),
// and a full pull of every tagged image that checks every byte against its digest.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { ConfigInput, RunningServer } from '../../server/index.js';
import { ACCEPT_ALL_MANIFESTS, Registry } from '../api/client.js';

export interface GcServer {
  srv: RunningServer;
  reg: Registry;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startGcServer(extra: ConfigInput = {}): Promise<GcServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'stevedore-gc-'));
  const { loadConfig, startServer } = await import('../../server/index.js');
  const config = loadConfig({
    overrides: {
      http: { addr: '127.0.0.1:0', drainTimeout: '5s' },
      log: { level: 'silent' },
      storage: { filesystem: { rootDirectory: dataDir }, uploadPurging: { enabled: false } },
      ...extra,
    },
  });
  const srv = await startServer({ config });
  return {
    srv,
    reg: new Registry(srv.url.replace(/\/+$/, '')),
    dataDir,
    async stop() {
      await srv.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

function sha256(b: Uint8Array): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

export interface Reachable {
  /** repo → manifest digests */
  manifests: Map<string, Set<string>>;
  /** repo → blob digests (configs, layers) */
  blobs: Map<string, Set<string>>;
  /** every digest of stored data reached (manifests and blobs) */
  all: Set<string>;
}

const add = (m: Map<string, Set<string>>, k: string, v: string) => {
  if (!m.has(k)) m.set(k, new Set());
  m.get(k)!.add(v);
};

/**
 * Pulls every tagged image in full over HTTP (manifests, index children, configs, layers,
 * referrers when `referrers`), checks every byte against its digest, and returns what it reached.
 */
export async function pullEverything(reg: Registry, opts: { referrers?: boolean } = {}): Promise<Reachable> {
  const out: Reachable = { manifests: new Map(), blobs: new Map(), all: new Set() };
  const catalog = await reg.get('/v2/_catalog', { query: { n: '10000' } });
  expect(catalog.status).toBe(200);
  const repos = (catalog.json<{ repositories: string[] }>().repositories ?? []).sort();
  for (const repo of repos) {
    const tl = await reg.get(`/v2/${repo}/tags/list`);
    if (tl.status === 404) continue;
    const tags = tl.json<{ tags: string[] | null }>().tags ?? [];
    const visit = async (ref: string): Promise<void> => {
      const res = await reg.get(`/v2/${repo}/manifests/${ref}`, { headers: { Accept: ACCEPT_ALL_MANIFESTS } });
      expect(res.status, `${repo}:${ref} ${res.text}`).toBe(200);
      const digest = sha256(res.body);
      if (ref.startsWith('sha256:')) expect(digest).toBe(ref);
      if (out.manifests.get(repo)?.has(digest)) return;
      add(out.manifests, repo, digest);
      out.all.add(digest);
      const doc = res.json<{ config?: { digest: string }; layers?: { digest: string }[]; manifests?: { digest: string }[] }>();
      for (const b of [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])]) {
        if (out.blobs.get(repo)?.has(b.digest)) continue;
        const blob = await reg.get(`/v2/${repo}/blobs/${b.digest}`);
        expect(blob.status, `${repo} blob ${b.digest}`).toBe(200);
        expect(sha256(blob.body)).toBe(b.digest);
        add(out.blobs, repo, b.digest);
        out.all.add(b.digest);
      }
      for (const child of doc.manifests ?? []) await visit(child.digest);
      if (opts.referrers) {
        const refs = await reg.get(`/v2/${repo}/referrers/${digest}`);
        expect(refs.status).toBe(200);
        for (const r of refs.json<{ manifests: { digest: string }[] }>().manifests) await visit(r.digest);
      }
    };
    for (const tag of tags) await visit(tag);
  }
  return out;
}

export interface StoredFile {
  digest: string;
  repo?: string;
  mtimeMs: number;
}

async function walk(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}

/** Blob data and repository layer links and revisions, read straight from the data directory. */
export async function storedFiles(dataDir: string): Promise<{ blobs: StoredFile[]; links: StoredFile[]; revisions: StoredFile[] }> {
  const blobs: StoredFile[] = [];
  for (const p of await walk(join(dataDir, 'blobs'))) {
    const m = /blobs\/(\w+)\/\w\w\/(\w+)\/data$/.exec(p);
    if (m) blobs.push({ digest: `${m[1]}:${m[2]}`, mtimeMs: (await stat(p)).mtimeMs });
  }
  const links: StoredFile[] = [];
  const revisions: StoredFile[] = [];
  for (const p of await walk(join(dataDir, 'repositories'))) {
    const rel = p.slice(join(dataDir, 'repositories').length + 1);
    let m = /^(.+)\/_layers\/(\w+)\/(\w+)\/link$/.exec(rel);
    if (m) links.push({ repo: m[1], digest: `${m[2]}:${m[3]}`, mtimeMs: (await stat(p)).mtimeMs });
    m = /^(.+)\/_manifests\/revisions\/(\w+)\/(\w+)\/link$/.exec(rel);
    if (m) revisions.push({ repo: m[1], digest: `${m[2]}:${m[3]}`, mtimeMs: (await stat(p)).mtimeMs });
  }
  return { blobs, links, revisions };
}

/** A small seeded PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
