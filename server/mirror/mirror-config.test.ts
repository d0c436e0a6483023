import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { Upstreams } from './upstreams.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mirror-config-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function load(yaml: string) {
  const p = join(dir, `${Math.random().toString(36).slice(2)}.yml`);
  await writeFile(p, yaml);
  return loadConfig({ file: p, env: {} });
}

describe('mirror configuration', () => {
  it('reads upstreams, durations and defaults', async () => {
    const c = await load(
      ['mirror:', '  upstreams:', '    - prefix: dockerhub', '      registry: docker.io', '      username: u', '      password: p', '  defaultUpstream: dockerhub', '  tagTtl: 90s', '  cache:', '    maxBytes: 1000'].join('\n'),
    );
    expect(c.mirror.upstreams[0]).toMatchObject({ prefix: 'dockerhub', registry: 'docker.io', insecure: false, username: 'u' });
    expect(c.mirror.tagTtl).toBe(90_000);
    expect(c.mirror.cache).toEqual({ maxBytes: 1000, checkInterval: 600_000, gracePeriod: 600_000 });
    expect(loadConfig({ env: {} }).mirror.upstreams).toEqual([]);
  });

  it('names what is wrong', async () => {
    await expect(load('mirror:\n  upstreams:\n    - prefix: a\n      registry: x.io\n  defaultUpstream: b\n')).rejects.toThrow(/mirror\.defaultUpstream: must be the prefix of a configured upstream/);
    await expect(load('mirror:\n  upstreams:\n    - prefix: a\n      registry: x.io\n    - prefix: a\n      registry: y.io\n')).rejects.toThrow(/mirror\.upstreams\.1\.prefix: duplicate prefix "a"/);
    await expect(load('mirror:\n  upstreams:\n    - prefix: a\n      registry: x.io\n  localNamespaces: [a/team]\n')).rejects.toThrow(/mirror\.localNamespaces\.0: overlaps the upstream prefix "a"/);
    await expect(load('mirror:\n  tagTtl: soon\n')).rejects.toThrow(/mirror\.tagTtl: invalid duration "soon"/);
    await expect(load('mirror:\n  upstreams:\n    - prefix: a\n      registry: x.io\n      pasword: p\n')).rejects.toThrow(/unknown key mirror\.upstreams\.0\.pasword/);
    await expect(load('mirror:\n  prefetch:\n    images:\n      - image: a/b\n        platforms: [amd64]\n')).rejects.toThrow(/platforms\.0: must be os\/arch/);
  });

  it('maps names to upstreams: prefixes, ?ns=, Docker Hub official images, the default upstream, local namespaces', async () => {
    const c = await load(
      [
        'mirror:',
        '  upstreams:',
        '    - { prefix: dockerhub, registry: docker.io }',
        '    - { prefix: ghcr, registry: ghcr.io, aliases: [ghcr.example] }',
        '  defaultUpstream: dockerhub',
        '  localNamespaces: [team]',
      ].join('\n'),
    );
    const u = new Upstreams(c.mirror);
    try {
      const at = (name: string, ns?: string) => {
        const p = u.resolve(name, ns);
        return p && `${p.upstream.registry} ${p.remote} ${p.local}`;
      };
      expect(at('dockerhub/library/busybox')).toBe('docker.io library/busybox dockerhub/library/busybox');
      expect(at('dockerhub/busybox')).toBe('docker.io library/busybox dockerhub/library/busybox');
      expect(at('busybox')).toBe('docker.io library/busybox dockerhub/library/busybox');
      expect(at('library/busybox', 'docker.io')).toBe('docker.io library/busybox dockerhub/library/busybox');
      expect(at('owner/tool', 'ghcr.io')).toBe('ghcr.io owner/tool ghcr/owner/tool');
      expect(at('owner/tool', 'ghcr.example')).toBe('ghcr.io owner/tool ghcr/owner/tool');
      expect(at('ghcr/owner/tool')).toBe('ghcr.io owner/tool ghcr/owner/tool');
      expect(at('team/app')).toBeUndefined();
      expect(at('owner/tool', 'quay.io')).toBeUndefined(); // an upstream this mirror does not have: not Docker Hub's
      expect(u.isLocal('team/app')).toBe(true);
      expect(u.isLocal('other/app')).toBe(false);
    } finally {
      await u.close();
    }
  });
});
