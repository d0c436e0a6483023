// Liveness and readiness. /healthz answers as long as the process serves HTTP. /readyz checks that
// storage is reachable and writable by writing, reading back and deleting a small probe object,
// with a timeout; the result is cached briefly so frequent probes cost one storage round trip per
// period, and concurrent checks share one probe.
import { randomBytes } from 'node:crypto';
import type { Middleware } from 'koa';
import { emptyResponse } from './empty-response.js';
import type { StorageDriver } from '../storage/index.js';
import type { Logger } from './logger.js';
import { HEALTHZ_PATH, READYZ_PATH } from './route-family.js';

export interface ReadinessResult {
  ready: boolean;
  /** Why storage is not ready (no secrets: the driver's error message). */
  error?: string;
  checkedAt: Date;
}

export interface ReadinessOptions {
  driver: StorageDriver;
  /** Names the probe object; unique per server process so replicas sharing storage never collide. */
  instanceId: string;
  timeoutMs: number;
  cacheMs: number;
  log: Logger;
  onResult?: (ready: boolean) => void;
}

export class ReadinessCheck {
  private cached: ReadinessResult | undefined;
  private running: Promise<ReadinessResult> | undefined;
  private readonly probePath: string;

  constructor(private readonly opts: ReadinessOptions) {
    // At the top of the storage, beside /blobs, /repositories and /uploads: the layout never lists it.
    this.probePath = `/_readyz-probe-${opts.instanceId}`;
  }

  check(): Promise<ReadinessResult> {
    const c = this.cached;
    if (c && Date.now() - c.checkedAt.getTime() < this.opts.cacheMs) return Promise.resolve(c);
    this.running ??= this.probe().then((result) => {
      this.running = undefined;
      this.record(result);
      return result;
    });
    return this.running;
  }

  private async probe(): Promise<ReadinessResult> {
    const { driver, timeoutMs } = this.opts;
    const token = randomBytes(16);
    const work = (async () => {
      await driver.putContent(this.probePath, token);
      const back = await driver.getContent(this.probePath);
      if (!back.equals(token)) throw new Error('storage returned different content for the probe object');
      await driver.delete(this.probePath);
    })();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`storage did not answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([work, timeout]);
      return { ready: true, checkedAt: new Date() };
    } catch (err) {
      work.catch(() => undefined); // a probe that outlived its timeout may still fail later
      return { ready: false, error: (err as Error).message, checkedAt: new Date() };
    } finally {
      clearTimeout(timer);
    }
  }

  private record(result: ReadinessResult): void {
    const before = this.cached?.ready;
    this.cached = result;
    this.opts.onResult?.(result.ready);
    if (before !== result.ready) {
      if (result.ready) this.opts.log.info({ check: 'storage' }, 'ready: storage is reachable and writable');
      else this.opts.log.warn({ check: 'storage', error: result.error }, 'not ready: storage check failed');
    }
  }
}

/** GET/HEAD /healthz and /readyz; mounted before rate limiting and any authentication. */
export function healthEndpoints(readiness: ReadinessCheck): Middleware {
  return async (ctx, next) => {
    if (ctx.path !== HEALTHZ_PATH && ctx.path !== READYZ_PATH) return next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      emptyResponse(ctx, 405);
      ctx.set('Allow', 'GET, HEAD');
      return;
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'application/json';
    if (ctx.path === HEALTHZ_PATH) {
      ctx.status = 200;
      ctx.body = JSON.stringify({ status: 'ok' });
      return;
    }
    const r = await readiness.check();
    ctx.status = r.ready ? 200 : 503;
    ctx.body = JSON.stringify({
      status: r.ready ? 'ready' : 'unready',
      checks: { storage: r.ready ? { status: 'ok' } : { status: 'failed', error: r.error } },
      checkedAt: r.checkedAt.toISOString(),
    });
  };
}
