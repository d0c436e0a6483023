// A network's host rules, set once when the network is first used and removed with its bridge
// (`network rm`, `network prune`), like docker's per-network rules:
//   nat     STEVEDORE-POSTROUTING  masquerade of the subnet's traffic leaving it (not --internal)
//   filter  STEVEDORE-FORWARD      forwarding allowed out of the bridge and back in (answers and
//                                  published ports), or nothing in or out (--internal)
//           STEVEDORE-ISOLATION-1/2  no forwarding from one of our bridges to another
// Why not the plugins' rules: the bridge plugin's ipMasq and the firewall plugin write rules per
// container address (a chain and a jump per container, two ACCEPTs per container, the isolation
// rules re-checked every time): ~25 iptables processes for one start and stop, ~300 ms of a
// ~470 ms start here. The reference plugins have no network-wide mode, so these few rules are
// ours, applied in one iptables-restore. Every rule carries the comment "stevedore:<bridge>", by
// which it is found again; the chains and the jumps to them go with the last network's rules.
import { existsSync } from 'node:fs';
import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NetworkError } from './network-error.js';
import { chainOf, commentOf, deletion, iptablesRestore, iptablesSave, parseSave, target, withIptablesLock, type Tables } from './iptables.js';

export interface RuleNetwork {
  bridge: string;
  subnet: string;
  internal: boolean;
}

const FORWARD = 'STEVEDORE-FORWARD';
const ISO1 = 'STEVEDORE-ISOLATION-1';
const ISO2 = 'STEVEDORE-ISOLATION-2';
const POSTROUTING = 'STEVEDORE-POSTROUTING';
const PLUMBING = 'stevedore';

export const ruleTag = (bridge: string) => `stevedore:${bridge}`;
const withTag = (tag: string) => `-m comment --comment ${tag}`;

/** The rules of one network, in iptables-restore form, per table. */
export function networkRules(n: RuleNetwork): { filter: string[]; nat: string[] } {
  const { bridge: b, subnet: s } = n;
  const c = withTag(ruleTag(b));
  const filter = [`-A ${ISO1} -i ${b} ! -o ${b} ${c} -j ${ISO2}`, `-A ${ISO2} -o ${b} ${c} -j DROP`];
  if (n.internal) filter.push(`-A ${FORWARD} -i ${b} ! -o ${b} ${c} -j DROP`, `-A ${FORWARD} -o ${b} ! -i ${b} ${c} -j DROP`);
  // DNAT: connections to a published port (portmap's DNAT) are let in even where FORWARD drops.
  else filter.push(`-A ${FORWARD} -o ${b} -m conntrack --ctstate RELATED,ESTABLISHED,DNAT ${c} -j ACCEPT`, `-A ${FORWARD} -i ${b} ${c} -j ACCEPT`);
  const nat = n.internal ? [] : [`-A ${POSTROUTING} -s ${s} -d 224.0.0.0/4 ${c} -j RETURN`, `-A ${POSTROUTING} -s ${s} ! -d ${s} ${c} -j MASQUERADE`];
  return { filter, nat };
}

const hasRule = (tables: Tables, table: string, pred: (r: { args: string[]; line: string }) => boolean) => tables.get(table)?.rules.some(pred) ?? false;

/** The iptables-restore input that adds what of the network's rules (and their chains) is missing. */
export function networkRulesAddition(tables: Tables, n: RuleNetwork): string {
  const tag = ruleTag(n.bridge);
  const { filter, nat } = networkRules(n);
  const out: string[] = [];
  const chains = (table: string, names: string[]) => names.filter((c) => !tables.get(table)?.chains.has(c)).map((c) => `:${c} - [0:0]`);
  const f: string[] = chains('filter', [FORWARD, ISO1, ISO2]);
  // Isolation first, then the accepts; our chain first in FORWARD (before a host's DROP rules).
  if (!hasRule(tables, 'filter', (r) => chainOf(r) === FORWARD && target(r) === ISO1)) f.push(`-I ${FORWARD} ${withTag(PLUMBING)} -j ${ISO1}`);
  if (!hasRule(tables, 'filter', (r) => chainOf(r) === 'FORWARD' && target(r) === FORWARD)) f.push(`-I FORWARD ${withTag(PLUMBING)} -j ${FORWARD}`);
  if (!hasRule(tables, 'filter', (r) => commentOf(r) === tag)) f.push(...filter);
  if (f.length) out.push('*filter', ...f, 'COMMIT');
  if (nat.length) {
    const t: string[] = chains('nat', [POSTROUTING]);
    if (!hasRule(tables, 'nat', (r) => chainOf(r) === 'POSTROUTING' && target(r) === POSTROUTING)) t.push(`-A POSTROUTING ${withTag(PLUMBING)} -j ${POSTROUTING}`);
    if (!hasRule(tables, 'nat', (r) => commentOf(r) === tag)) t.push(...nat);
    if (t.length) out.push('*nat', ...t, 'COMMIT');
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

/** The input that removes the networks' rules, and our chains once no network's rules are left. */
export function networkRulesRemoval(tables: Tables, bridges: string[]): string {
  const tags = new Set(bridges.map(ruleTag));
  const out: string[] = [];
  for (const [table, ours] of [['filter', [FORWARD, ISO1, ISO2]], ['nat', [POSTROUTING]]] as const) {
    const t = tables.get(table);
    if (!t) continue;
    const mine = t.rules.filter((r) => tags.has(commentOf(r) ?? ''));
    const lines = mine.map(deletion);
    const othersLeft = t.rules.some((r) => !mine.includes(r) && (commentOf(r) ?? '').startsWith('stevedore:'));
    const present = ours.filter((c) => t.chains.has(c));
    if (!othersLeft && present.length) {
      for (const r of t.rules) if (!(ours as readonly string[]).includes(chainOf(r)) && (ours as readonly string[]).includes(target(r))) lines.push(deletion(r));
      for (const c of present) lines.push(`-F ${c}`);
      for (const c of present) lines.push(`-X ${c}`);
    }
    if (lines.length) out.push(`*${table}`, ...lines, 'COMMIT');
  }
  return out.length ? `${out.join('\n')}\n` : '';
}

// The rules are host-wide, so is the note that they are in place: /run (gone with a reboot, like
// the rules) rather than the engine root. It saves an iptables-save at every start.
const MARKS = '/run/stevedore/rules';

/**
 * Makes sure the network's rules are in place; cheap (two stat calls) once they are: the mark is
 * written after the rules, and a missing bridge (a reboot, a hand-made `ip link del`) means the
 * rules are checked again too.
 */
export async function ensureNetworkRules(n: RuleNetwork): Promise<void> {
  const mark = join(MARKS, n.bridge);
  if (existsSync(mark) && existsSync(`/sys/class/net/${n.bridge}`)) return;
  await withIptablesLock(async () => {
    const input = networkRulesAddition(parseSave(await iptablesSave()), n);
    if (input) await iptablesRestore(input).catch((err: Error) => {
      throw new NetworkError('plugin', `the host rules of bridge ${n.bridge} could not be set (${err.message.split('\n')[0]}): is iptables (Debian iptables) installed?`);
    });
  });
  await mkdir(MARKS, { recursive: true, mode: 0o700 });
  await writeFile(mark, '');
}

/** Removes the networks' rules (and our chains when they were the last). */
export async function removeNetworkRules(bridges: string[]): Promise<void> {
  if (bridges.length === 0) return;
  await withIptablesLock(async () => {
    const input = networkRulesRemoval(parseSave(await iptablesSave()), bridges);
    if (input) await iptablesRestore(input);
  });
  for (const b of bridges) await rm(join(MARKS, b), { force: true });
  // Nothing of ours stays in /run once the last network is gone.
  for (const d of [MARKS, '/run/stevedore']) if (!(await rmdir(d).then(() => true, () => false))) break;
}
