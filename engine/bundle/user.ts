// `-u USER[:GROUP]` (or the image's User) resolved against the container's own /etc/passwd and
// /etc/group, with Docker's rules: a name must exist; a number need not (gid 0 and HOME=/ then);
// supplementary groups are the groups listing the user's name, and only when no group is given
// (runc's and docker's rule: `USER 1000:1000` runs with exactly that group).
import { readFile } from 'node:fs/promises';
import { resolveInRootfs } from './rootfs-path.js';
import { KindedError } from '../../util/errors.js';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

export class UserError extends KindedError {
  constructor(message: string) {
    super('not-found', message);
    this.name = 'UserError';
  }
}

const isId = (s: string) => /^[0-9]+$/.test(s);

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 7 || !isId(f[2]!) || !isId(f[3]!)) continue;
    out.push({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5] || '/' });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4 || !isId(f[2]!)) continue;
    out.push({ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(',').map((m) => m.trim()).filter(Boolean) });
  }
  return out;
}

const MAX_ID = 2 ** 32 - 2;

export function resolveUser(spec: string, passwd: PasswdEntry[], groups: GroupEntry[]): ResolvedUser {
  const [userPart = '', groupPart, ...rest] = spec.split(':');
  if (rest.length > 0) throw new UserError(`invalid user ${JSON.stringify(spec)}: USER[:GROUP]`);
  let entry: PasswdEntry | undefined;
  let uid: number;
  if (userPart === '') {
    uid = 0;
    entry = passwd.find((p) => p.uid === 0);
  } else if (isId(userPart)) {
    uid = Number(userPart);
    if (uid > MAX_ID) throw new UserError(`invalid user ${userPart}: uid out of range`);
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) throw new UserError(`unable to find user ${userPart}: no matching entries in the container's /etc/passwd`);
    uid = entry.uid;
  }
  let gid = entry?.gid ?? 0;
  if (groupPart !== undefined && groupPart !== '') {
    if (isId(groupPart)) {
      gid = Number(groupPart);
      if (gid > MAX_ID) throw new UserError(`invalid group ${groupPart}: gid out of range`);
    } else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw new UserError(`unable to find group ${groupPart}: no matching entries in the container's /etc/group`);
      gid = g.gid;
    }
  }
  const additional = entry && (groupPart === undefined || groupPart === '') ? groups.filter((g) => g.members.includes(entry.name)).map((g) => g.gid) : [];
  return { uid, gid, additionalGids: [...new Set(additional)], home: entry?.home ?? '/' };
}

async function readInRootfs(rootfs: string, path: string): Promise<string> {
  try {
    return await readFile(await resolveInRootfs(rootfs, path), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return '';
    throw err;
  }
}

/** The texts of a root filesystem's /etc/passwd and /etc/group ('' when missing). */
export interface UserFiles {
  passwd: string;
  group: string;
}

/** Reads /etc/passwd and /etc/group of a mounted rootfs (their symlinks followed inside it). */
export async function readUserFiles(rootfs: string): Promise<UserFiles> {
  const [passwd, group] = await Promise.all([readInRootfs(rootfs, '/etc/passwd'), readInRootfs(rootfs, '/etc/group')]);
  return { passwd, group };
}

/** Resolves a user spec against /etc/passwd and /etc/group as read by readUserFiles. */
export function resolveUserIn(files: UserFiles, spec: string): ResolvedUser {
  return resolveUser(spec, parsePasswd(files.passwd), parseGroup(files.group));
}

/** Resolves a user spec against the files of a mounted rootfs. */
export async function resolveUserInRootfs(rootfs: string, spec: string): Promise<ResolvedUser> {
  return resolveUserIn(await readUserFiles(rootfs), spec);
}
