// Users from an htpasswd file of bcrypt entries (`user:$2y$10$…`, as `htpasswd -B` writes them).
// The file is re-read when its size or modification time changes (checked at most once a second).
// bcrypt is slow by design (~0.1 s in pure JS), so a password that was verified is remembered as
// a salted SHA-256 until the file changes: Basic auth on every request stays cheap.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import bcrypt from 'bcryptjs';
import type { Logger } from '../logger.js';

const STAT_INTERVAL_MS = 1000;
/** Compared against for unknown users, so they take as long as known ones. */
const DUMMY_HASH = '$2b$10$ZQoI2NmXOgkUiRVxYmRpweq5pJixIV2E5vaowHSaFYjZL3Uw7JvtK';

export class HtpasswdFile {
  private users = new Map<string, string>();
  private verified = new Map<string, Buffer>();
  private readonly salt = randomBytes(16);
  private stamp = '';
  private checkedAt = 0;

  constructor(
    readonly path: string,
    private readonly log: Logger,
  ) {
    this.refresh(true);
  }

  private refresh(initial = false): void {
    const now = Date.now();
    if (!initial && now - this.checkedAt < STAT_INTERVAL_MS) return;
    this.checkedAt = now;
    let stamp: string;
    try {
      const st = statSync(this.path);
      stamp = `${st.size}:${st.mtimeMs}:${st.ino}`;
    } catch (err) {
      if (initial) throw new Error(`htpasswd file ${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      this.log.error({ path: this.path, err: (err as Error).message }, 'htpasswd file cannot be read; keeping the users loaded before');
      return;
    }
    if (stamp === this.stamp) return;
    const users = new Map<string, string>();
    const text = readFileSync(this.path, 'utf8');
    text.split(/\r?\n/).forEach((line, i) => {
      if (!line.trim() || line.startsWith('#')) return;
      const colon = line.indexOf(':');
      const user = line.slice(0, colon);
      const hash = line.slice(colon + 1).trim();
      if (colon <= 0 || !/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
        this.log.warn({ path: this.path, line: i + 1 }, 'htpasswd: ignoring a line that is not user:bcrypt-hash');
        return;
      }
      users.set(user, hash);
    });
    this.users = users;
    this.verified = new Map();
    this.stamp = stamp;
    if (!initial) this.log.info({ path: this.path, users: users.size }, 'htpasswd file reloaded');
  }

  has(user: string): boolean {
    this.refresh();
    return this.users.has(user);
  }

  async verify(user: string, password: string): Promise<boolean> {
    this.refresh();
    const hash = this.users.get(user);
    const digest = createHash('sha256').update(this.salt).update(user).update('\0').update(password).digest();
    const known = this.verified.get(user);
    if (hash && known && timingSafeEqual(known, digest)) return true;
    // $2y$ (Apache) is the same algorithm as $2b$; bcryptjs knows $2a$/$2b$.
    const ok = await bcrypt.compare(password, (hash ?? DUMMY_HASH).replace(/^\$2y\$/, '$2b$'));
    if (ok && hash) {
      this.verified.set(user, digest);
      return true;
    }
    return false;
  }
}
