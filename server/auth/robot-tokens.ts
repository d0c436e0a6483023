// Robot tokens: named secrets for CI that work as a password (user `robot+NAME`) at the token
// service and in htpasswd mode. The records live in the registry's storage (so every replica and
// an S3 bucket see the same set) and hold only a SHA-256 of the secret: a secret is 256 random
// bits, so a fast hash is as safe as a slow one and keeps Basic auth on every request cheap.
// A robot's access is its own list intersected, at every use, with what the access rules allow
// its creator now: a creator who loses a right takes it from the robot too.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { StorageDriver } from '../../storage/driver.js';
import { isNotFound } from '../../storage/driver.js';
import { layout } from '../../storage/layout.js';
import type { Logger } from '../logger.js';
import { globToRegExp, type AccessRules, type Caller } from './access-rules.js';
import { ACTIONS, type Action } from './actions.js';

/** The user name a robot logs in with: `robot+NAME` (`+` is never part of a robot's name). */
export const ROBOT_USER_PREFIX = 'robot+';
const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const SECRET_PREFIX = 'stv_robot_';
/** How long a replica trusts what it read of a record (revocation elsewhere takes effect within it). */
const CACHE_MS = 2000;
/** Last use is written at most this often per robot (a write per request would cost more than the request). */
const LAST_USED_EVERY_MS = 60_000;

export interface RobotAccessEntry {
  /** A repository glob (`*` within a component, `**` across). */
  repository: string;
  actions: Action[];
}

export interface RobotToken {
  name: string;
  access: RobotAccessEntry[];
  createdBy: string;
  created: string;
  /** ISO time; absent: never. */
  expires?: string;
  /** `sha256:HEX` of the secret. */
  secretHash: string;
}

/** What `token ls` shows: never the hash. */
export type RobotTokenInfo = Omit<RobotToken, 'secretHash'> & { user: string; lastUsed?: string; expired: boolean };

export class RobotTokenError extends Error {
  constructor(
    readonly kind: 'invalid' | 'exists' | 'not-found',
    message: string,
  ) {
    super(message);
    this.name = 'RobotTokenError';
  }
}

/** `team/**:pull,push` → the glob and its actions. */
export function parseAccessSpec(text: string): RobotAccessEntry {
  const colon = text.lastIndexOf(':');
  const repository = colon > 0 ? text.slice(0, colon).trim() : '';
  const actions = colon > 0 ? text.slice(colon + 1).split(',').map((a) => a.trim()).filter(Boolean) : [];
  if (!repository || /\s/.test(repository) || actions.length === 0) {
    throw new RobotTokenError('invalid', `invalid access ${JSON.stringify(text.slice(0, 200))}: use REPOSITORY-GLOB:ACTIONS, e.g. team/**:pull,push`);
  }
  const bad = actions.find((a) => !(ACTIONS as readonly string[]).includes(a));
  if (bad !== undefined) throw new RobotTokenError('invalid', `invalid action ${JSON.stringify(bad.slice(0, 50))} in ${JSON.stringify(text.slice(0, 200))}: use ${ACTIONS.join(', ')}`);
  return { repository, actions: [...new Set(actions)] as Action[] };
}

export function robotNameOf(user: string | undefined): string | undefined {
  return user?.startsWith(ROBOT_USER_PREFIX) ? user.slice(ROBOT_USER_PREFIX.length) : undefined;
}

function hashSecret(secret: string): string {
  return `sha256:${createHash('sha256').update(secret).digest('hex')}`;
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function isExpired(robot: Pick<RobotToken, 'expires'>, now = Date.now()): boolean {
  return robot.expires !== undefined && Date.parse(robot.expires) <= now;
}

/** What a robot may do: its own entries, never more than the rules allow its creator. */
export class RobotAccess {
  private readonly entries: { re: RegExp; actions: Action[] }[];

  constructor(
    private readonly rules: AccessRules,
    readonly robot: RobotToken,
  ) {
    this.entries = robot.access.map((e) => ({ re: globToRegExp(e.repository), actions: e.actions }));
  }

  allowed(_caller: Caller, repository: string): Set<Action> {
    const own = new Set<Action>();
    for (const e of this.entries) if (e.re.test(repository)) for (const a of e.actions) own.add(a);
    if (own.size === 0) return own;
    const creator = this.rules.allowed(this.robot.createdBy, repository);
    return new Set([...own].filter((a) => creator.has(a)));
  }

  isAdmin(): boolean {
    return false;
  }

  /** The catalog is filtered by `allowed`, so listing it shows only what the robot may pull. */
  mayListCatalog(): boolean {
    return true;
  }

  mayGetCatalogToken(): boolean {
    return true;
  }
}

interface Cached {
  at: number;
  robot: RobotToken | undefined;
}

export class RobotTokenStore {
  private readonly cache = new Map<string, Cached>();
  private readonly lastUsedWritten = new Map<string, number>();

  constructor(
    private readonly driver: StorageDriver,
    private readonly log: Logger,
    /** Other processes serving the same storage (a cluster's workers) forget a robot that changed here, and the reverse. */
    private readonly changes?: { publish(name: string): void; subscribe(forget: (name: string) => void): void },
  ) {
    changes?.subscribe((name) => this.cache.delete(name));
  }

  private async read(name: string, now = Date.now()): Promise<RobotToken | undefined> {
    const hit = this.cache.get(name);
    if (hit && now - hit.at < CACHE_MS) return hit.robot;
    let robot: RobotToken | undefined;
    try {
      robot = JSON.parse((await this.driver.getContent(layout.robotToken(name))).toString('utf8')) as RobotToken;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(name, { at: now, robot });
    return robot;
  }

  /** Creates a robot; the secret is returned here and never again. */
  async create(input: { name: string; access: RobotAccessEntry[]; expiresInMs?: number; createdBy: string }, now = Date.now()): Promise<{ robot: RobotToken; secret: string }> {
    const { name } = input;
    if (!NAME.test(name)) throw new RobotTokenError('invalid', `invalid robot name ${JSON.stringify(name.slice(0, 80))}: 1-64 lower-case letters, digits, ".", "_" or "-"`);
    if (input.access.length === 0) throw new RobotTokenError('invalid', 'a robot needs at least one access entry (REPOSITORY-GLOB:ACTIONS)');
    if (input.expiresInMs !== undefined && !(input.expiresInMs > 0)) throw new RobotTokenError('invalid', 'the expiry must be in the future');
    this.cache.delete(name);
    if (await this.read(name, now)) throw new RobotTokenError('exists', `robot ${name} exists: remove it first (token rm ${name})`);
    const secret = SECRET_PREFIX + randomBytes(32).toString('base64url');
    const robot: RobotToken = {
      name,
      access: input.access,
      createdBy: input.createdBy,
      created: new Date(now).toISOString(),
      ...(input.expiresInMs !== undefined ? { expires: new Date(now + input.expiresInMs).toISOString() } : {}),
      secretHash: hashSecret(secret),
    };
    // A last use left from an earlier robot of this name is not this one's.
    await this.driver.delete(layout.robotLastUsed(name)).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    await this.driver.putContent(layout.robotToken(name), Buffer.from(JSON.stringify(robot)));
    this.cache.set(name, { at: now, robot });
    this.changes?.publish(name);
    return { robot, secret };
  }

  async list(now = Date.now()): Promise<RobotTokenInfo[]> {
    let paths: string[];
    try {
      paths = await this.driver.list(layout.robotTokensRoot);
    } catch (err) {
      if (isNotFound(err)) return [];
      throw err;
    }
    const out: RobotTokenInfo[] = [];
    for (const p of paths.filter((x) => x.endsWith('.json')).sort()) {
      const name = p.slice(p.lastIndexOf('/') + 1, -'.json'.length);
      this.cache.delete(name);
      const robot = await this.read(name, now);
      if (!robot) continue;
      let lastUsed: string | undefined;
      try {
        lastUsed = (await this.driver.getContent(layout.robotLastUsed(name))).toString('utf8').trim() || undefined;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      const { secretHash: _hash, ...info } = robot;
      out.push({ ...info, user: ROBOT_USER_PREFIX + name, expired: isExpired(robot, now), ...(lastUsed ? { lastUsed } : {}) });
    }
    return out;
  }

  /** Removes a robot: its secret and every token issued from it stop working. */
  async remove(name: string): Promise<RobotToken> {
    this.cache.delete(name);
    const robot = NAME.test(name) ? await this.read(name) : undefined;
    if (!robot) throw new RobotTokenError('not-found', `no robot named ${JSON.stringify(name.slice(0, 80))}`);
    await this.driver.delete(layout.robotToken(name));
    await this.driver.delete(layout.robotLastUsed(name)).catch(() => undefined);
    this.cache.set(name, { at: Date.now(), robot: undefined });
    this.changes?.publish(name);
    return robot;
  }

  /** The robot for a `robot+NAME` login when the secret is its own and it has not expired. */
  async authenticate(user: string, secret: string, now = Date.now()): Promise<RobotToken | undefined> {
    const name = robotNameOf(user);
    if (name === undefined || !NAME.test(name)) return undefined;
    const robot = await this.read(name, now);
    // Compared in constant time; robot names are not secret, only the secret is.
    const given = hashSecret(secret);
    if (!robot || !sameHash(given, robot.secretHash) || isExpired(robot, now)) return undefined;
    this.touch(name, now);
    return robot;
  }

  /** The robot when it still exists and has not expired (tokens issued from it are checked here). */
  async active(name: string, now = Date.now()): Promise<RobotToken | undefined> {
    if (!NAME.test(name)) return undefined;
    const robot = await this.read(name, now);
    if (!robot || isExpired(robot, now)) return undefined;
    this.touch(name, now);
    return robot;
  }

  /** Records the last use, at most once a minute per robot and process; never fails a request. */
  private touch(name: string, now: number): void {
    const last = this.lastUsedWritten.get(name);
    if (last !== undefined && now - last < LAST_USED_EVERY_MS) return;
    if (this.lastUsedWritten.size > 10_000) this.lastUsedWritten.clear();
    this.lastUsedWritten.set(name, now);
    this.driver.putContent(layout.robotLastUsed(name), Buffer.from(new Date(now).toISOString())).catch((err: unknown) => {
      this.log.warn({ robot: name, err: (err as Error).message }, 'robot token: recording the last use failed');
    });
  }
}
