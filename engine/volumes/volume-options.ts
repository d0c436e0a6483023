// The local volume driver's options, as docker's: `volume create -o type=tmpfs -o device=tmpfs
// -o o=size=64m`, or `--mount type=volume,…,volume-opt=K=V`. A volume with options is a file
// system mounted at its _data (`mount -t TYPE -o O DEVICE _data`) while a container uses it, and
// containers bind its _data as for any volume: a tmpfs volume, or a host directory
// (`type=none,o=bind,device=/path`) under a volume's name. Pure parsing and checks here; the
// mounting is VolumeStore's.
import { VolumeError } from './volume-error.js';

/** type, device, o: what moby's local driver takes (its `size` needs an xfs project quota). */
export type VolumeOptions = Record<string, string>;

const KEYS = new Set(['type', 'device', 'o']);
// moby's mandatoryOpts: each key needs the others named here.
const NEEDS: Record<string, string[]> = { type: ['device'], device: ['type'], o: ['device', 'type'] };

/** `K=V` items (the -o/--opt flags, or volume-opt= fields) into options; one-line errors. */
export function parseVolumeOptions(items: string[]): VolumeOptions {
  const out: VolumeOptions = {};
  for (const item of items) {
    const i = item.indexOf('=');
    if (i <= 0) throw new VolumeError(`invalid volume option ${JSON.stringify(item)}: KEY=VALUE (type, device, o)`, 'invalid');
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  checkVolumeOptions(out);
  return out;
}

/** docker's rules and words ("invalid option", "missing required option"). */
export function checkVolumeOptions(opts: VolumeOptions): void {
  for (const key of Object.keys(opts)) {
    if (key === 'size') throw new VolumeError('invalid option: "size" (a quota on xfs only): for a tmpfs volume give o=size=64m', 'invalid');
    if (!KEYS.has(key)) throw new VolumeError(`invalid option: ${JSON.stringify(key)} (the local driver takes type, device and o)`, 'invalid');
  }
  for (const key of Object.keys(opts)) {
    for (const needed of NEEDS[key] ?? []) if (!(needed in opts)) throw new VolumeError(`missing required option: ${JSON.stringify(needed)}`, 'invalid');
  }
  // Given to mount(8) as arguments: nothing that reads as one of its own options.
  if (opts.device?.startsWith('-') || opts.type?.startsWith('-') || opts.o?.startsWith('-')) throw new VolumeError('invalid volume option: a value may not start with "-"', 'invalid');
  if (opts.type !== undefined && !/^[A-Za-z0-9_.+-]+$/.test(opts.type)) throw new VolumeError(`invalid volume option type=${opts.type}: a file system type like tmpfs, none, ext4, nfs`, 'invalid');
}

/** Whether the volume is a file system of its own (else a plain directory). */
export function needsMount(opts: VolumeOptions | undefined): opts is VolumeOptions & { type: string; device: string } {
  return !!opts && opts.type !== undefined && opts.device !== undefined;
}

/** mount(8)'s arguments for a volume's file system at target. */
export function mountArgs(opts: VolumeOptions & { type: string; device: string }, target: string): string[] {
  return ['-t', opts.type, ...(opts.o ? ['-o', opts.o] : []), opts.device, target];
}
