// start a registry with the bench image and print host; keep running
import { startStevedore } from '/work/wt-engine-store/dist/bench/servers.js';
import { Client } from '/work/wt-engine-store/dist/client/index.js';
import { digestOf, MediaType } from '/work/wt-engine-store/dist/oci/index.js';
import { gzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { randomBytes } from 'node:crypto';
const server = await startStevedore({ dataDir: '/tmp/prof-registry' });
const host = new URL(server.url).host;
const rc = new Client().registryClient(host);
const layers = [], diffIds = [];
for (let i = 0; i < 5; i++) {
  const p = pack(); const chunks = []; p.on('data', c => chunks.push(c)); const done = new Promise(r => p.on('end', r));
  const entry = (h, b = Buffer.alloc(0)) => new Promise((res, rej) => p.entry(h, b, e => e ? rej(e) : res()));
  const text = Buffer.alloc(8192, 'x');
  for (let f = 0; f < 1300; f++) { if (f % 32 === 0) await entry({ name: `l${i}/d${f/32}/`, type: 'directory' }); await entry({ name: `l${i}/d${Math.floor(f/32)}/f${f}`}, text); }
  for (let f = 0; f < 4; f++) await entry({ name: `l${i}/b${f}` }, randomBytes(2.5*1024*1024));
  p.finalize(); await done;
  const tar = Buffer.concat(chunks); const gz = gzipSync(tar);
  const d = { mediaType: MediaType.OciLayerGzip, digest: digestOf(gz), size: gz.length };
  await rc.uploadBlob('p/img', d, { open: async o => Readable.from([gz.subarray(o)]) });
  layers.push(d); diffIds.push(digestOf(tar));
}
const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } }));
const cd = { mediaType: MediaType.OciConfig, digest: digestOf(config), size: config.length };
await rc.uploadBlob('p/img', cd, { open: async o => Readable.from([config.subarray(o)]) });
await rc.putManifest('p/img', 'v1', { mediaType: MediaType.OciManifest, bytes: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: cd, layers })) });
console.log(host);
