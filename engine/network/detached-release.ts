// The release of a `--rm` container's network, handed to a detached shell so that the command
// ends with the container's status without waiting for the plugins (docker's daemon, too, cleans
// up in its own time). Only where that is safe to do late: the container is being removed (its id,
// and so its namespace file's path, is never used again), nothing else holds its namespace, and
// each attachment is the bridge plugin alone (no port rules a next container could meet: those are
// released before the command ends). The shell runs each bridge's DEL without a namespace, which
// is its IPAM plugin's DEL (cni.ts delExecutable), then unmounts and removes the namespace file,
// in that order: should it die or a DEL fail, the file stays, and the repair before the next
// set-up (or `container prune`) releases it by container id like any crash's leftover.
import { spawn } from 'node:child_process';
import { delExecutable, pluginCall, pluginConf } from './cni.js';
import type { NetworkState } from './request.js';

/** Whether releaseDetached may take this state (see the module comment). */
export function detachable(state: NetworkState): boolean {
  return !state.sharedWith && state.ports.length === 0 && state.attachments.every((a) => a.conf.plugins.length === 1 && a.conf.plugins[0]!.type === 'bridge');
}

// $1 the namespace file, then per DEL: executable, interface, config. printf is dash's builtin.
const SCRIPT = `ns=$1; shift
while [ $# -gt 0 ]; do
  printf '%s' "$3" | CNI_IFNAME=$2 "$1" >/dev/null 2>&1 || exit 1
  shift 3
done
umount "$ns" 2>/dev/null; rm -f "$ns" && rmdir "\${ns%/*}" "\${ns%/*/*}" /run/stevedore 2>/dev/null
exit 0`;

/** Starts the release and returns at once (the shell is detached and outlives this process). */
export function releaseDetached(id: string, state: NetworkState): void {
  const args: string[] = [];
  let env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
  for (const a of state.attachments) {
    const plugin = a.conf.plugins[0]!;
    const call = pluginCall('DEL', pluginConf(a.conf, plugin, a.result), { containerId: id, netns: '', ifName: a.ifName }, delExecutable(plugin, ''));
    env = call.env; // the same for every attachment but CNI_IFNAME, which the script sets per call
    args.push(call.path, a.ifName, call.input);
  }
  spawn('/bin/sh', ['-c', SCRIPT, 'sh', state.netns, ...args], { detached: true, stdio: 'ignore', env }).unref();
}
