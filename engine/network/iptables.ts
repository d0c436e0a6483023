// The host's iptables as networking reads and changes it itself (the CNI plugins run their own
// iptables commands): one iptables-save to read everything, one iptables-restore --noflush to apply
// a batch. Separate iptables calls cost ~8-10 ms each here (one process start and one nf_tables
// dump apiece), a batch costs one. A restore is atomic: a -D of a rule someone removed meanwhile
// fails the batch and nothing is applied.
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { withLock } from '../file-lock.js';

/** Splits one iptables-save rule line into arguments (double-quoted words keep their spaces). */
export function splitRule(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!);
  return out;
}

export interface Rule {
  line: string;
  args: string[];
}
export type Tables = Map<string, { chains: Set<string>; rules: Rule[] }>;

export function parseSave(text: string): Tables {
  const tables: Tables = new Map();
  let cur: { chains: Set<string>; rules: Rule[] } | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) tables.set(line.slice(1), (cur = { chains: new Set(), rules: [] }));
    else if (line.startsWith(':') && cur) cur.chains.add(line.slice(1).split(' ')[0]!);
    else if (line.startsWith('-A ') && cur) cur.rules.push({ line, args: splitRule(line) });
  }
  return tables;
}

export const chainOf = (r: Rule) => r.args[1]!;
export const target = (r: Rule) => r.args[r.args.indexOf('-j') + 1] ?? '';
export const opt = (r: Rule, o: string) => (r.args.indexOf(o) >= 0 ? r.args[r.args.indexOf(o) + 1] : undefined);
/** The rule's `-m comment --comment` text. */
export const commentOf = (r: Rule) => opt(r, '--comment');

/** The -D line that removes a rule iptables-save listed. */
export const deletion = (r: Rule) => r.line.replace(/^-A /, '-D ');

export function iptablesSave(): Promise<string> {
  return new Promise((resolve) => execFile('iptables-save', [], { maxBuffer: 64 << 20 }, (err, out) => resolve(err ? '' : out)));
}

export function iptablesRestore(input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('iptables-restore', ['-w', '--noflush'], (err, _out, stderr) => (err ? reject(new Error(`iptables-restore: ${stderr.trim() || err.message}`)) : resolve()));
    child.stdin?.end(input);
  });
}

/**
 * Host-wide, between stevedore processes of every engine root: a read-then-restore of another
 * process in between could declare (and so flush) a chain this one just filled.
 */
export async function withIptablesLock<T>(fn: () => Promise<T>): Promise<T> {
  await mkdir('/run/stevedore', { recursive: true, mode: 0o700 });
  return withLock('/run/stevedore/iptables.lock', fn);
}
