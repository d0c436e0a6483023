#!/usr/bin/env node
// Compiles to dist/ only when a source is newer than the last build, so `npm start` and the test
// suites that spawn the CLI never run a stale dist/ and never wait for a compile that changes
// nothing. Used by scripts/start.sh, scripts/test.sh and the vitest global setup. Plain Node, no
// dependencies: it runs before anything else is known to work. tsconfig.build.json compiles
// incrementally (dist/.tsbuildinfo), so a rebuild after a one-file edit is not a full compile.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundle, bundleIsCurrent } from './bundle.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Written after a successful build, with the time the build started. */
export const STAMP = join(ROOT, 'dist', '.build-stamp');

/** The newest modification time (ms) of the compiled sources and the build's configuration. */
export function newestSource(root = ROOT) {
  const config = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8'));
  let newest = Math.max(statSync(join(root, 'tsconfig.build.json')).mtimeMs, statSync(join(root, 'tsconfig.json')).mtimeMs);
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  for (const dir of config.include ?? []) if (existsSync(join(root, dir))) walk(join(root, dir));
  return newest;
}

export function isStale(root = ROOT) {
  const stamp = join(root, 'dist', '.build-stamp');
  if (!existsSync(stamp) || !existsSync(join(root, 'dist', 'cli', 'main.js'))) return true;
  return newestSource(root) > statSync(stamp).mtimeMs;
}

/** Whether the CLI's bundle (scripts/bundle.mjs) is missing or older than tsc's output, esbuild being there to make it. */
export function bundleIsStale(root = ROOT) {
  return existsSync(join(root, 'node_modules', 'esbuild')) && !bundleIsCurrent(root);
}

/**
 * Builds when stale (then bundles the CLI's start path: scripts/bundle.mjs), or only bundles when
 * the bundle is older than the build; resolves to whether it built. Rejects with tsc's output
 * when the build fails.
 */
export async function buildIfStale({ root = ROOT, log = (line) => process.stderr.write(`${line}\n`) } = {}) {
  if (!isStale(root)) {
    if (bundleIsStale(root)) await bundle({ root, log });
    return false;
  }
  const started = new Date();
  log('build-if-stale: sources changed since the last build; compiling (tsc -p tsconfig.build.json)');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the build failed (tsc exit ${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  // The stamp carries the start time: a source saved during the compile makes the next run build again.
  mkdirSync(join(root, 'dist'), { recursive: true });
  const stamp = join(root, 'dist', '.build-stamp');
  writeFileSync(stamp, `${started.toISOString()}\n`);
  utimesSync(stamp, started, started);
  await bundle({ root, log });
  return true;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildIfStale().catch((err) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
}
