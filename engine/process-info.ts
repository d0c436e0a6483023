// Liveness of a process we recorded earlier (a container's owner or monitor, a lock's holder), safe against pid reuse: a pid is only "ours" while
// its start time (field 22 of /proc/PID/stat) is the one recorded with it.
import { readFileSync } from 'node:fs';

export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

/** A process identity that can be recorded in a file and checked later. */
export interface ProcessId {
  pid: number;
  start: string;
}

export function selfId(): ProcessId {
  return { pid: process.pid, start: processStartTime(process.pid) ?? '' };
}

export function isAlive(p: ProcessId | undefined): boolean {
  if (!p) return false;
  const start = processStartTime(p.pid);
  if (start === undefined) return false;
  // A zombie still has a stat entry but is gone for our purposes.
  try {
    const state = readFileSync(`/proc/${p.pid}/stat`, 'utf8');
    if (state.slice(state.lastIndexOf(')') + 2).startsWith('Z')) return false;
  } catch {
    return false;
  }
  return p.start === '' || start === p.start;
}
