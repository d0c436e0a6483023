// The CNI protocol (containernetworking/cni SPEC.md): a plugin is an executable given the
// operation and container in its environment (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS,
// CNI_IFNAME, CNI_ARGS, CNI_PATH) and its network configuration as JSON on stdin; ADD prints a
// result, errors are {code, msg, details} on stdout with a non-zero exit. A list of plugins is
// run in order for ADD and CHECK, each given the previous one's result as prevResult, and in
// reverse for DEL, each given the final ADD result.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NetworkError } from './network-error.js';

export const CNI_VERSION = '1.0.0';

/** Where the plugins are: $STEVEDORE_CNI_PATH, else Debian's /usr/lib/cni, else /opt/cni/bin. */
export function cniPath(env: NodeJS.ProcessEnv = process.env): string[] {
  return env.STEVEDORE_CNI_PATH ? env.STEVEDORE_CNI_PATH.split(':') : ['/usr/lib/cni', '/opt/cni/bin'];
}

export function findPlugin(type: string, dirs = cniPath()): string {
  for (const d of dirs) {
    const p = join(d, type);
    if (existsSync(p)) return p;
  }
  throw new NetworkError('missing-plugin', `the CNI plugin ${type} is not installed (looked in ${dirs.join(', ')}): install the Debian package containernetworking-plugins`);
}

export interface PluginConf {
  type: string;
  [k: string]: unknown;
}

export interface NetConfList {
  cniVersion: string;
  name: string;
  plugins: PluginConf[];
}

/** What ADD returns (the parts we read). */
export interface CniResult {
  cniVersion?: string;
  interfaces?: { name: string; mac?: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: unknown[];
  dns?: unknown;
}

export interface Invocation {
  containerId: string;
  netns: string;
  ifName: string;
  /** CNI_ARGS, "K=V;K=V". */
  args?: string;
}

export type CniCommand = 'ADD' | 'DEL' | 'CHECK';

/** One plugin call as the spec has it: the executable, its environment and its stdin. */
export interface PluginCall {
  path: string;
  env: NodeJS.ProcessEnv;
  input: string;
}

/** The call of conf.type's executable, or of `executable` given the same config (see delList). */
export function pluginCall(command: CniCommand, conf: Record<string, unknown> & PluginConf, inv: Invocation, executable = conf.type): PluginCall {
  const dirs = cniPath();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_CONTAINERID: inv.containerId,
    CNI_NETNS: inv.netns,
    CNI_IFNAME: inv.ifName,
    CNI_PATH: dirs.join(':'),
    ...(inv.args ? { CNI_ARGS: inv.args } : {}),
  };
  return { path: findPlugin(executable, dirs), env, input: JSON.stringify(conf) };
}

/** Runs one plugin: conf.type's executable, or `executable` given the same config (see delList). */
export function invokePlugin(command: CniCommand, conf: Record<string, unknown> & PluginConf, inv: Invocation, executable = conf.type): Promise<CniResult | undefined> {
  const { path, env, input } = pluginCall(command, conf, inv, executable);
  return new Promise((resolve, reject) => {
    const child = spawn(path, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.once('error', (e) => reject(new NetworkError('plugin', `CNI plugin ${conf.type}: ${e.message}`)));
    child.once('close', (code) => {
      if (code === 0) {
        if (command !== 'ADD' || out.trim() === '') return resolve(undefined);
        try {
          return resolve(JSON.parse(out) as CniResult);
        } catch {
          return reject(new NetworkError('plugin', `CNI plugin ${conf.type} ${command}: its result is not JSON`));
        }
      }
      let msg = err.trim() || `exit status ${code}`;
      try {
        const e = JSON.parse(out) as { code?: number; msg?: string; details?: string };
        msg = [e.msg, e.details].filter(Boolean).join(': ') || msg;
      } catch {
        /* not the spec's error format: stderr says it */
      }
      reject(new NetworkError('plugin', `CNI plugin ${conf.type} ${command} failed: ${msg.split('\n')[0]}`));
    });
    child.stdin.on('error', () => {}); // a plugin that exits without reading its config
    child.stdin.end(input);
  });
}

export function pluginConf(list: NetConfList, plugin: PluginConf, prevResult: CniResult | undefined): Record<string, unknown> & PluginConf {
  return { cniVersion: list.cniVersion, name: list.name, ...plugin, ...(prevResult ? { prevResult } : {}) };
}

/**
 * ADD of a whole list; on failure the plugins already added are deleted again (in reverse), so a
 * failed attach leaves no veth, address or rule behind.
 */
export async function addList(list: NetConfList, inv: Invocation): Promise<CniResult> {
  let result: CniResult | undefined;
  const done: PluginConf[] = [];
  try {
    for (const p of list.plugins) {
      result = (await invokePlugin('ADD', pluginConf(list, p, result), inv)) ?? result;
      done.push(p);
    }
  } catch (err) {
    await delList({ ...list, plugins: [...done, list.plugins[done.length]!] }, inv, result).catch(() => {});
    throw err;
  }
  return result ?? {};
}

/**
 * The executable to run for a DEL. The bridge plugin's DEL without a namespace (CNI_NETNS empty:
 * the namespace is gone, and its veth with it) does nothing but its IPAM plugin's DEL with the
 * same config (containernetworking/plugins bridge.go cmdDel, v1.1): that plugin is run directly,
 * one Go process start less at every container exit.
 */
export function delExecutable(plugin: PluginConf, netns: string): string {
  const ipam = (plugin.ipam as { type?: string } | undefined)?.type;
  return plugin.type === 'bridge' && netns === '' && ipam ? ipam : plugin.type;
}

/** DEL of a whole list, in reverse; every plugin is asked even when one fails (the first error is thrown). */
export async function delList(list: NetConfList, inv: Invocation, prevResult?: CniResult): Promise<void> {
  let first: unknown;
  for (const p of [...list.plugins].reverse()) {
    try {
      await invokePlugin('DEL', pluginConf(list, p, prevResult), inv, delExecutable(p, inv.netns));
    } catch (err) {
      first ??= err;
    }
  }
  if (first) throw first;
}

/** CHECK: whether what ADD set up is still in place (throws the first plugin's complaint). */
export async function checkList(list: NetConfList, inv: Invocation, prevResult: CniResult): Promise<void> {
  for (const p of list.plugins) await invokePlugin('CHECK', pluginConf(list, p, prevResult), inv);
}
