// Property-style test of online GC: seeded random interleavings of pushes (blobs, image manifests,
// indexes, referrers, mounts, tags), tag deletions and GC runs, some of them concurrent with the
// GC. After every GC: each tagged image (with its index children and referrers) is pullable in
// full with every byte matching its digest, and nothing unreachable that is older than the run's
// start remains (grace period 0: the start is the cutoff). Reproduce a failure with GC_SEED=<seed>.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { MediaType, type Descriptor } from '../../oci/index.js';
import { collectGarbage, FilesystemDriver } from '../../storage/index.js';
import { ociIndex, ociManifest, type Manifest } from '../api/client.js';
import { prng, pullEverything, startGcServer, storedFiles, type GcServer } from './gc-helpers.js';

let server: GcServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const REPOS = ['prop/a', 'prop/b', 'prop/c/nested'];
const SEEDS = process.env.GC_SEED ? [Number(process.env.GC_SEED)] : [1, 2, 3];
const STEPS = 45;

interface Model {
  blobs: Map<string, Map<string, Buffer>>; // repo → digest → bytes
  images: Map<string, Manifest[]>; // repo → image manifests pushed
  tags: Map<string, Set<string>>;
}

describe('online GC property: random interleavings', () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}: every tagged image stays pullable, nothing old and unreachable remains`, async () => {
      server = await startGcServer();
      const { reg, dataDir } = server;
      const rnd = prng(seed);
      const pick = <T>(xs: readonly T[]): T | undefined => (xs.length ? xs[Math.floor(rnd() * xs.length)] : undefined);
      const model: Model = { blobs: new Map(), images: new Map(), tags: new Map() };
      for (const r of REPOS) {
        model.blobs.set(r, new Map());
        model.images.set(r, []);
        model.tags.set(r, new Set());
      }
      let tagCounter = 0;
      const driver = new FilesystemDriver({ rootDirectory: dataDir, noSync: true });

      const pushBlob = async (repo: string, data: Buffer = randomBytes(16 + Math.floor(rnd() * 200))): Promise<Descriptor> => {
        const d = await reg.pushBlob(repo, data);
        model.blobs.get(repo)!.set(d.digest, data);
        return { mediaType: MediaType.OciLayerGzip, digest: d.digest, size: d.size };
      };
      /** PUT a manifest; during a GC a 400 (content swept under it) is a correct refusal. */
      const putManifest = async (repo: string, ref: string, m: Manifest, concurrent: boolean): Promise<boolean> => {
        const res = await reg.put(`/v2/${repo}/manifests/${ref}`, { headers: { 'content-type': m.mediaType }, body: m.bytes });
        if (res.status === 201) return true;
        if (concurrent && res.status === 400 && /MANIFEST_BLOB_UNKNOWN/.test(res.text)) return false;
        throw new Error(`PUT ${repo}:${ref} -> ${res.status} ${res.text}`);
      };
      const newTag = () => `t${++tagCounter}`;

      const ops: Record<string, (concurrent: boolean) => Promise<void>> = {
        blob: async () => {
          await pushBlob(pick(REPOS)!);
        },
        image: async (concurrent) => {
          const repo = pick(REPOS)!;
          const known = [...model.blobs.get(repo)!.keys()];
          const layers: Descriptor[] = [];
          for (let i = 0; i < 1 + Math.floor(rnd() * 2); i++) {
            const reuse = rnd() < 0.5 ? pick(known) : undefined;
            layers.push(
              reuse
                ? { mediaType: MediaType.OciLayerGzip, digest: reuse as Descriptor['digest'], size: model.blobs.get(repo)!.get(reuse)!.length }
                : await pushBlob(repo),
            );
          }
          const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', n: randomBytes(4).toString('hex') }));
          const cfgDesc = await pushBlob(repo, cfg);
          const m = ociManifest({ ...cfgDesc, mediaType: MediaType.OciConfig }, layers);
          // Tagged (a fresh tag; sequentially sometimes an existing one, which moves it) or by digest.
          const existing = concurrent ? undefined : pick([...model.tags.get(repo)!]);
          const ref = rnd() < 0.7 ? (existing && rnd() < 0.3 ? existing : newTag()) : m.digest;
          if (await putManifest(repo, ref, m, concurrent)) {
            model.images.get(repo)!.push(m);
            if (ref !== m.digest) model.tags.get(repo)!.add(ref);
          }
        },
        index: async (concurrent) => {
          const repo = pick(REPOS)!;
          const imgs = model.images.get(repo)!;
          if (imgs.length === 0) return;
          const children = [...new Set([pick(imgs)!, pick(imgs)!])];
          const tag = newTag();
          if (await putManifest(repo, tag, ociIndex(children), concurrent)) model.tags.get(repo)!.add(tag);
        },
        referrer: async (concurrent) => {
          const repo = pick(REPOS)!;
          const subject = pick(model.images.get(repo)!);
          if (!subject) return;
          const empty = await pushBlob(repo, Buffer.from('{}'));
          const body = await pushBlob(repo, Buffer.from(`signature ${randomBytes(6).toString('hex')}`));
          const art = ociManifest({ ...empty, mediaType: MediaType.OciEmpty }, [{ ...body, mediaType: 'text/plain' }], {
            subject: subject.descriptor,
            artifactType: 'application/vnd.test.signature',
          });
          await putManifest(repo, art.digest, art, concurrent);
        },
        mount: async () => {
          const from = pick(REPOS)!;
          const to = pick(REPOS.filter((r) => r !== from))!;
          const digest = pick([...model.blobs.get(from)!.keys()]);
          if (!digest) return;
          const res = await reg.post(`/v2/${to}/blobs/uploads/`, { query: { mount: digest, from } });
          if (res.status === 201) model.blobs.get(to)!.set(digest, model.blobs.get(from)!.get(digest)!);
        },
        untag: async () => {
          const repo = pick(REPOS)!;
          const tag = pick([...model.tags.get(repo)!]);
          if (!tag) return;
          const res = await reg.delete(`/v2/${repo}/manifests/${tag}`);
          expect(res.status).toBe(202);
          model.tags.get(repo)!.delete(tag);
        },
      };
      const weights: [string, number][] = [
        ['blob', 3],
        ['image', 5],
        ['index', 2],
        ['referrer', 2],
        ['mount', 1],
        ['untag', 2],
        ['gc', 2],
      ];
      const total = weights.reduce((n, [, w]) => n + w, 0);
      const choose = (concurrentOnly: boolean): string => {
        for (;;) {
          let x = rnd() * total;
          for (const [name, w] of weights) {
            x -= w;
            if (x < 0) {
              if (name === 'gc' || (concurrentOnly && name === 'untag')) break;
              return name;
            }
          }
          if (!concurrentOnly) return 'gc';
        }
      };

      let gcs = 0;
      let freed = 0;
      for (let step = 0; step < STEPS; step++) {
        const op = step === STEPS - 1 ? 'gc' : choose(false);
        if (op !== 'gc') {
          await ops[op]!(false);
          continue;
        }
        gcs++;
        // A GC with 0 to 3 pushes running at the same time (never deletions: what is unreachable
        // when the run starts must still be unreachable when it is checked).
        const started = Date.now();
        const concurrent = Array.from({ length: Math.floor(rnd() * 4) }, () => choose(true));
        const [report] = await Promise.all([
          collectGarbage(driver, { gracePeriodMs: 0, deleteUntagged: true, keepReferrers: true }),
          (async () => {
            for (const c of concurrent) await ops[c]!(true);
          })(),
        ]);
        expect(report.dryRun).toBe(false);
        freed += report.objectsFreed;
        // 1. Every tagged image (and its children and referrers) pullable in full.
        const live = await pullEverything(reg, { referrers: true });
        // 2. Nothing unreachable older than the run's start.
        const files = await storedFiles(dataDir);
        const stale = (f: { mtimeMs: number }) => f.mtimeMs < started - 1; // mtime rounding margin
        for (const b of files.blobs.filter(stale)) expect(live.all, `seed ${seed} step ${step}: blob ${b.digest} should be gone`).toContain(b.digest);
        for (const l of files.links.filter(stale)) expect(live.blobs.get(l.repo!) ?? new Set(), `link ${l.repo} ${l.digest}`).toContain(l.digest);
        for (const r of files.revisions.filter(stale)) expect(live.manifests.get(r.repo!) ?? new Set(), `revision ${r.repo}@${r.digest}`).toContain(r.digest);
        // The model forgets what the run deleted.
        for (const repo of REPOS) {
          for (const d of [...model.blobs.get(repo)!.keys()]) {
            if ((await reg.head(`/v2/${repo}/blobs/${d}`)).status !== 200) model.blobs.get(repo)!.delete(d);
          }
          const imgs = model.images.get(repo)!;
          const kept: Manifest[] = [];
          for (const m of imgs) if ((await reg.head(`/v2/${repo}/manifests/${m.digest}`, { headers: { Accept: m.mediaType } })).status === 200) kept.push(m);
          model.images.set(repo, kept);
        }
      }
      expect(gcs).toBeGreaterThan(1);
      expect(freed).toBeGreaterThan(0); // the runs did collect something
    });
  }
});
