// What the CNI plugins leave behind on purpose, removed once no container of ours needs it.
// firewall keeps its per-bridge isolation rules and its top-level chains (CNI-FORWARD, CNI-ADMIN,
// CNI-ISOLATION-STAGE-1/2) and portmap its chains (CNI-HOSTPORT-*) after the last DEL, since
// another container may still use them (podman leaves them too). The issue asks for a host with
// no trace once all containers and networks are gone, so: the isolation rules of a bridge we just
// deleted go, and each shared chain goes when it holds nothing but the plugins' own plumbing (so
// chains another engine's containers still use are left alone). This is the only iptables code we
// write; everything that sets rules up is the plugins'.
import { execFile } from 'node:child_process';

function iptables(args: string[]): Promise<string> {
  return new Promise((resolve) => execFile('iptables', ['-w', ...args], (err, stdout) => resolve(err ? '' : stdout)));
}

/** Splits one `iptables -S` line into arguments (double-quoted words keep their spaces). */
export function splitRule(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}

async function rules(table: string, chain: string): Promise<string[][] | undefined> {
  const out = await iptables(['-t', table, '-S', chain]);
  if (!out) return undefined; // no such chain
  return out.split('\n').filter((l) => l.startsWith('-A ')).map(splitRule);
}

async function deleteRule(table: string, rule: string[]): Promise<void> {
  await iptables(['-t', table, '-D', ...rule.slice(1)]);
}

/** Drops the firewall plugin's isolation rules of a bridge that no longer exists. */
export async function dropBridgeIsolation(bridge: string): Promise<void> {
  for (const chain of ['CNI-ISOLATION-STAGE-1', 'CNI-ISOLATION-STAGE-2']) {
    for (const r of (await rules('filter', chain)) ?? []) {
      const i = r.indexOf('-i');
      const o = r.indexOf('-o');
      if ((i >= 0 && r[i + 1] === bridge) || (o >= 0 && r[o + 1] === bridge)) await deleteRule('filter', r);
    }
  }
}

const jumpsTo = (r: string[], chains: string[]) => chains.includes(r[r.indexOf('-j') + 1] ?? '');

async function dropChains(table: string, parents: string[], chains: string[]): Promise<void> {
  for (const parent of parents) for (const r of (await rules(table, parent)) ?? []) if (jumpsTo(r, chains)) await deleteRule(table, r);
  for (const c of chains) await iptables(['-t', table, '-F', c]);
  for (const c of chains) await iptables(['-t', table, '-X', c]);
}

/** Removes the plugins' shared chains that hold nothing of any container. */
export async function dropIdleSharedChains(): Promise<void> {
  // filter: CNI-FORWARD holds only the jump to an empty CNI-ADMIN; the isolation stages only RETURN.
  const fwd = await rules('filter', 'CNI-FORWARD');
  const admin = (await rules('filter', 'CNI-ADMIN')) ?? [];
  const iso = [...((await rules('filter', 'CNI-ISOLATION-STAGE-1')) ?? []), ...((await rules('filter', 'CNI-ISOLATION-STAGE-2')) ?? [])];
  if (fwd && admin.length === 0 && fwd.every((r) => jumpsTo(r, ['CNI-ADMIN'])) && iso.every((r) => r[r.indexOf('-j') + 1] === 'RETURN')) {
    await dropChains('filter', ['FORWARD', 'CNI-FORWARD'], ['CNI-FORWARD', 'CNI-ADMIN', 'CNI-ISOLATION-STAGE-1', 'CNI-ISOLATION-STAGE-2']);
  }
  // nat: no container's DNAT chain hangs off CNI-HOSTPORT-DNAT.
  const dnat = await rules('nat', 'CNI-HOSTPORT-DNAT');
  if (dnat && dnat.length === 0) {
    await dropChains('nat', ['PREROUTING', 'OUTPUT', 'POSTROUTING'], ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK']);
  }
}
