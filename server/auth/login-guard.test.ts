import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { AuthConfigSchema } from './auth-config.js';
import { LoginGuard } from './login-guard.js';

function guard(bruteForce: Record<string, unknown>): { g: LoginGuard; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  const g = new LoginGuard(AuthConfigSchema.parse({ bruteForce }).bruteForce, createLogger('warn', sink));
  return { g, lines };
}

describe('login guard', () => {
  it('counts the same wrong credentials retried soon after as one failure (ctr retries five times)', () => {
    const { g } = guard({ maxFailures: 3, lockout: '10s' });
    const t0 = 1_000_000;
    for (let i = 0; i < 5; i++) g.failed('alice', '10.0.0.1', t0 + i * 100, 'typo');
    expect(g.check('alice', '10.0.0.1', t0 + 1000).ok).toBe(true);
    // A second and third different password do count.
    g.failed('alice', '10.0.0.1', t0 + 2000, 'typo2');
    expect(g.check('alice', '10.0.0.1', t0 + 2100).ok).toBe(true);
    g.failed('alice', '10.0.0.1', t0 + 3000, 'typo3');
    expect(g.check('alice', '10.0.0.1', t0 + 3100)).toMatchObject({ ok: false, by: 'user' });
  });

  it('counts the same credentials again once the short window has passed, and different guesses always', () => {
    const { g } = guard({ maxFailures: 3, lockout: '10s' });
    const t0 = 1_000_000;
    g.failed('bob', 'c', t0, 'same');
    g.failed('bob', 'c', t0 + 61_000, 'same');
    expect(g.check('bob', 'c', t0 + 61_100).ok).toBe(true);
    g.failed('bob', 'c', t0 + 122_000, 'same');
    expect(g.check('bob', 'c', t0 + 122_100).ok).toBe(false);
    const { g: g2 } = guard({ maxFailures: 3 });
    for (let i = 0; i < 3; i++) g2.failed('carol', 'c', t0 + i, `guess-${i}`);
    expect(g2.check('carol', 'c', t0 + 10).ok).toBe(false);
  });

  it('logs a repeat without the password', () => {
    const { g, lines } = guard({});
    g.failed('dave', 'c', 5, 'hunter2');
    g.failed('dave', 'c', 6, 'hunter2');
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[1]!)).toMatchObject({ user: 'dave', repeated: true });
    expect(lines.join('\n')).not.toContain('hunter2');
  });
});
