// What the CNI plugins leave behind on purpose, removed once no container of ours needs it.
// firewall keeps its per-bridge isolation rules and its top-level chains (CNI-FORWARD, CNI-ADMIN,
// CNI-ISOLATION-STAGE-1/2) and portmap its chains (CNI-HOSTPORT-*) after the last DEL, since
// another container may still use them (podman leaves them too). The issue asks for a host with
// no trace once all containers and networks are gone, so: the isolation rules of bridges we just
// deleted go, and the shared chains go when they hold nothing but the plugins' own plumbing (so
// chains another engine's containers still use are left alone). One iptables-save to read, one iptables-restore --noflush to
// apply (iptables.ts).
import { chainOf, iptablesRestore, iptablesSave, opt, parseSave, target, withIptablesLock, type Tables } from './iptables.js';

const FILTER_CHAINS = ['CNI-FORWARD', 'CNI-ADMIN', 'CNI-ISOLATION-STAGE-1', 'CNI-ISOLATION-STAGE-2'];
const NAT_CHAINS = ['CNI-HOSTPORT-DNAT', 'CNI-HOSTPORT-MASQ', 'CNI-HOSTPORT-SETMARK'];

/** The iptables-restore input that removes the leftovers (empty when there is nothing to do). */
export function leftoverRemoval(tables: Tables, goneBridges: string[]): string {
  const out: string[] = [];
  const filter = tables.get('filter');
  if (filter) {
    const isolation = filter.rules.filter((r) => chainOf(r).startsWith('CNI-ISOLATION-STAGE-') && (goneBridges.includes(opt(r, '-i') ?? '') || goneBridges.includes(opt(r, '-o') ?? '')));
    const left = filter.rules.filter((r) => !isolation.includes(r));
    const inChain = (c: string) => left.filter((r) => chainOf(r) === c);
    const idle =
      filter.chains.has('CNI-FORWARD') &&
      inChain('CNI-ADMIN').length === 0 &&
      inChain('CNI-FORWARD').every((r) => target(r) === 'CNI-ADMIN') &&
      [...inChain('CNI-ISOLATION-STAGE-1'), ...inChain('CNI-ISOLATION-STAGE-2')].every((r) => target(r) === 'RETURN');
    const lines = isolation.map((r) => r.line.replace(/^-A /, '-D '));
    if (idle) {
      for (const r of left) if (!FILTER_CHAINS.includes(chainOf(r)) && FILTER_CHAINS.includes(target(r))) lines.push(r.line.replace(/^-A /, '-D '));
      for (const c of FILTER_CHAINS) if (filter.chains.has(c)) lines.push(`-F ${c}`);
      for (const c of FILTER_CHAINS) if (filter.chains.has(c)) lines.push(`-X ${c}`);
    }
    if (lines.length) out.push('*filter', ...lines, 'COMMIT');
  }
  const nat = tables.get('nat');
  if (nat && nat.chains.has('CNI-HOSTPORT-DNAT') && !nat.rules.some((r) => chainOf(r) === 'CNI-HOSTPORT-DNAT')) {
    const lines = nat.rules.filter((r) => !NAT_CHAINS.includes(chainOf(r)) && NAT_CHAINS.includes(target(r))).map((r) => r.line.replace(/^-A /, '-D '));
    for (const c of NAT_CHAINS) if (nat.chains.has(c)) lines.push(`-F ${c}`);
    for (const c of NAT_CHAINS) if (nat.chains.has(c)) lines.push(`-X ${c}`);
    out.push('*nat', ...lines, 'COMMIT');
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

/** Removes the isolation rules of the given (deleted) bridges and the plugins' idle shared chains. */
export async function dropPluginLeftovers(goneBridges: string[]): Promise<void> {
  await withIptablesLock(async () => {
    const input = leftoverRemoval(parseSave(await iptablesSave()), goneBridges);
    if (input) await iptablesRestore(input).catch(() => {}); // changed meanwhile: the next clean-up tries again
  });
}
