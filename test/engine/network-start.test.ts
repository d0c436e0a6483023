// How a bridge-mode start overlaps the network with the runtime (engine/network/ready-gate.ts), as
// root with real runc and the real CNI plugins: the runtime is started while the CNI ADD runs, yet
// the container's process never runs before its network is ready, and a set-up that fails while
// the runtime waits leaves nothing behind. The plugins are the real ones; only `bridge` is wrapped
// (STEVEDORE_CNI_PATH) so that its ADD waits until the runtime has reached the gate (which proves
// the overlap: with the runtime started after the ADD, that ADD would give up), and, for the
// failure, then answers with the spec's error instead of doing its work.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineEnv, type EngineEnv } from '../helpers/engine-cli.js';

let e: EngineEnv;
let cniDir: string;

// Waits (bounded: 30 s) until this container's gate hook (`sh -c 'read …' …/<id>/network-ready`)
// runs, i.e. the runtime has done its own start and holds the container; then the real bridge, or
// the spec's error with FAIL_ADD=1 in the config's args.
const WRAPPER = `#!/bin/sh
if [ "$CNI_COMMAND" = ADD ]; then
  i=0
  until grep -qsa "$CNI_CONTAINERID/network-read[y]" /proc/[0-9]*/cmdline; do
    i=$((i+1)); [ $i -gt 300 ] && { echo '{"code":11,"msg":"the runtime never reached its gate"}'; exit 1; }
    sleep 0.1
  done
  [ -e "$(dirname "$0")/fail-add" ] && { echo '{"code":11,"msg":"refused by the test"}'; exit 1; }
fi
exec /usr/lib/cni/bridge
`;

// host-local, failing its DEL while fail-del exists (a release that cannot finish).
const IPAM_WRAPPER = `#!/bin/sh
[ "$CNI_COMMAND" = DEL ] && [ -e "$(dirname "$0")/fail-del" ] && { echo '{"code":11,"msg":"refused by the test"}'; exit 1; }
exec /usr/lib/cni/host-local
`;

beforeAll(async () => {
  e = await engineEnv();
  cniDir = join(e.dir, 'cni');
  await mkdir(cniDir);
  await writeFile(join(cniDir, 'bridge'), WRAPPER);
  await writeFile(join(cniDir, 'host-local'), IPAM_WRAPPER);
  await chmod(join(cniDir, 'bridge'), 0o755);
  await chmod(join(cniDir, 'host-local'), 0o755);
  for (const p of ['portmap', 'tuning', 'loopback']) await symlink(join('/usr/lib/cni', p), join(cniDir, p));
}, 180_000);

afterAll(async () => {
  await e?.close();
});

const withWrapper = () => ({ env: { STEVEDORE_CNI_PATH: cniDir } });

/** The namespace files of this root (none while none of its containers runs). */
const netnsFiles = () => {
  const all = existsSync('/run/stevedore') ? readdirSync('/run/stevedore').filter((d) => existsSync(join('/run/stevedore', d, 'netns'))) : [];
  return all.flatMap((d) => readdirSync(join('/run/stevedore', d, 'netns')).map((f) => join('/run/stevedore', d, 'netns', f)));
};
const leases = () => {
  const dir = join(e.root, 'networks', 'ipam', 'bridge');
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^\d/.test(f)) : [];
};
const ipOf = (out: string) => /inet (10\.90\.\d+\.\d+)\//.exec(out)![1]!;

describe('the network set up while the runtime starts', () => {
  it('the runtime starts during the CNI ADD, and the container\'s first command already has its address and route', async () => {
    const out = await e.ok(['run', '--rm', 'busybox:test', 'sh', '-c', 'ip -4 addr show eth0; ip route'], withWrapper());
    expect(out).toMatch(/inet 10\.90\.\d+\.\d+\/24/);
    expect(out).toMatch(/^default via 10\.90\.\d+\.1 dev eth0/m);
  });

  it('a set-up failing while the runtime waits: one line, status 125, the command never ran, nothing left', async () => {
    const out = join(e.dir, 'out');
    await mkdir(out);
    await writeFile(join(cniDir, 'fail-add'), '');
    try {
      const r = await e.stevedore(['run', '--name', 'failing', '-v', `${out}:/out`, 'busybox:test', 'touch', '/out/ran'], withWrapper());
      expect(r.code).toBe(125);
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/CNI plugin bridge ADD failed: refused by the test/)]);
    } finally {
      await import('node:fs/promises').then((f) => f.rm(join(cniDir, 'fail-add'), { force: true }));
    }
    expect(existsSync(join(out, 'ran'))).toBe(false);
    const [c] = JSON.parse(await e.ok(['container', 'inspect', 'failing'])) as { id: string; state: string; network?: unknown }[];
    expect(c!.state).toBe('exited');
    expect(c!.network).toBeUndefined();
    // No namespace file, no address lease, no runtime state, no hook still waiting.
    const netnsDir = readdirSync('/run/stevedore', { withFileTypes: true }).flatMap((d) => (d.isDirectory() && existsSync(join('/run/stevedore', d.name, 'netns')) ? readdirSync(join('/run/stevedore', d.name, 'netns')) : []));
    expect(netnsDir).not.toContain(c!.id);
    const leases = join(e.root, 'networks', 'ipam', 'bridge');
    expect(readdirSync(leases).filter((f) => /^\d/.test(f)).map((f) => readFileSync(join(leases, f), 'utf8'))).not.toContainEqual(expect.stringContaining(c!.id));
    expect(existsSync(join(e.root, 'runc', c!.id))).toBe(false);
    const waiting = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`${c!.id}/network-ready`);
      } catch {
        return false;
      }
    });
    expect(waiting).toEqual([]);
    await e.ok(['rm', 'failing']);
  });

  it('a container made before the gate (no hook in its config.json) still starts, with its network', async () => {
    await e.ok(['create', '--name', 'old', 'busybox:test', 'sh', '-c', 'ip -4 addr show eth0']);
    const [c] = JSON.parse(await e.ok(['container', 'inspect', 'old'])) as { id: string; bundle: string }[];
    const config = join(c!.bundle, 'config.json');
    const spec = JSON.parse(readFileSync(config, 'utf8')) as { hooks?: unknown };
    expect(spec.hooks).toBeDefined();
    delete spec.hooks;
    await writeFile(config, JSON.stringify(spec));
    expect(await e.ok(['start', '-a', 'old'])).toMatch(/inet 10\.90\.\d+\.\d+\/24/);
    await e.ok(['rm', 'old']);
  });

  it('run --rm: the address and namespace are released after the command ended; a release that failed is repaired by the next run', async () => {
    const ip = ipOf(await e.ok(['run', '--rm', 'busybox:test', 'ip', '-4', 'addr', 'show', 'eth0'], withWrapper()));
    await e.waitFor('the address and namespace of a --rm container to be released', async () => !leases().includes(ip) && netnsFiles().length === 0);
    // The release cannot finish (its DEL fails): the namespace file stays, and with it the address.
    await writeFile(join(cniDir, 'fail-del'), '');
    let stuck: string;
    try {
      stuck = ipOf(await e.ok(['run', '--rm', 'busybox:test', 'ip', '-4', 'addr', 'show', 'eth0'], withWrapper()));
      const left = await e.waitFor('the failed release to have given up', async () => {
        const files = netnsFiles();
        return files.length === 1 && !readdirSync('/proc').some((p) => /^\d+$/.test(p) && (() => {
          try {
            return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(files[0]!);
          } catch {
            return false;
          }
        })()) && files;
      });
      expect(leases()).toContain(stuck);
      expect(left).toHaveLength(1);
    } finally {
      await import('node:fs/promises').then((f) => f.rm(join(cniDir, 'fail-del'), { force: true }));
    }
    // The next set-up's repair releases it first.
    await e.ok(['run', '-d', '--name', 'next', 'busybox:test', 'sleep', '60'], withWrapper());
    expect(leases()).not.toContain(stuck);
    expect(netnsFiles()).toHaveLength(1);
    await e.ok(['rm', '-f', 'next']);
  });
});
