// Serves the web UI's files (server/ui/assets) at /ui/. Read once at start: each asset gets a URL
// with its content hash (/ui/assets/app.3f2a….js) and is cached for a year; the page itself
// (index.html, which names the hashed URLs) is revalidated on every load, so an upgrade shows at
// once. Every answer carries a strict Content-Security-Policy: scripts, styles and requests only
// from this origin, no inline code, no frames, no forms posting anywhere.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Middleware } from 'koa';

export const UI_PREFIX = '/ui';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  body: Buffer;
  type: string;
}

/**
 * The assets directory: beside this module when run from the sources (tests), or the sources'
 * copy when run from the compiled dist/server/ui/ (tsc does not copy non-TypeScript files).
 */
export function assetsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'assets'), join(here, '..', '..', '..', 'server', 'ui', 'assets')];
  const found = candidates.find((d) => existsSync(join(d, 'index.html')));
  if (!found) throw new Error(`web UI assets not found (looked in ${candidates.join(', ')})`);
  return found;
}

export interface UiBundle {
  index: Buffer;
  /** Hashed URL path → asset. */
  assets: Map<string, Asset>;
}

/** Reads the assets and rewrites index.html's `./assets/NAME.EXT` references to hashed URLs. */
export function loadUiBundle(dir = assetsDir()): UiBundle {
  const assets = new Map<string, Asset>();
  let html = readFileSync(join(dir, 'index.html'), 'utf8');
  html = html.replace(/\.\/assets\/([a-z0-9-]+)(\.[a-z]+)/g, (_all, base: string, ext: string) => {
    const body = readFileSync(join(dir, `${base}${ext}`));
    const hash = createHash('sha256').update(body).digest('hex').slice(0, 16);
    const path = `${UI_PREFIX}/assets/${base}.${hash}${ext}`;
    assets.set(path, { body, type: TYPES[ext] ?? 'application/octet-stream' });
    return path;
  });
  return { index: Buffer.from(html), assets };
}

export function uiStatic(bundle: UiBundle = loadUiBundle()): Middleware {
  return async (ctx, next) => {
    if (ctx.path !== UI_PREFIX && !ctx.path.startsWith(`${UI_PREFIX}/`)) return next();
    ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    ctx.set('X-Frame-Options', 'DENY');
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.set('Allow', 'GET, HEAD');
      ctx.status = 405;
      ctx.type = 'text/plain';
      ctx.body = 'method not allowed\n';
      return;
    }
    if (ctx.path === UI_PREFIX) {
      ctx.status = 308;
      ctx.redirect(`${UI_PREFIX}/`);
      return;
    }
    const asset = bundle.assets.get(ctx.path);
    if (asset) {
      ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
      ctx.type = asset.type;
      ctx.body = asset.body;
      return;
    }
    if (ctx.path.startsWith(`${UI_PREFIX}/assets/`)) {
      ctx.status = 404;
      ctx.set('Cache-Control', 'no-store');
      ctx.type = 'text/plain';
      ctx.body = 'no such asset\n';
      return;
    }
    // Every other /ui/ path is the page: navigation within it is in the URL's fragment.
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = bundle.index;
  };
}
