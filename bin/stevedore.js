#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm install` (the prepare script).
import module from 'node:module';

// Node's module compile cache: V8's code cache for every module the command loads, kept between
// runs (Node checks each entry against the file's content, so a rebuild is picked up). It lives in
// the user's cache directory, else the system's temporary one. Enabling it never fails a command:
// a directory that cannot be made or written only leaves the cache off (Node reports that in the
// returned status instead of throwing; the catch is for anything else). NODE_DISABLE_COMPILE_CACHE=1
// turns it off, STEVEDORE_COMPILE_CACHE=DIR moves it.
try {
  const env = process.env;
  const base = env.XDG_CACHE_HOME || (env.HOME ? `${env.HOME}/.cache` : undefined);
  const dir = env.STEVEDORE_COMPILE_CACHE || (base ? `${base}/stevedore/compile-cache` : undefined);
  module.enableCompileCache?.(dir);
} catch {
  /* no cache: the command runs the same, only its start-up is slower */
}

// The start path as built by scripts/bundle.mjs (a few files instead of one per module), when it
// was made from the current build: a bundle older than tsc's last output (a compile without the
// bundle step) is passed over. STEVEDORE_NO_BUNDLE=1 runs tsc's output (dist/cli/main.js).
function entry() {
  if (process.env.STEVEDORE_NO_BUNDLE) return '../dist/cli/main.js';
  try {
    const { statSync } = process.getBuiltinModule('node:fs');
    const bundled = new URL('../dist/bundle/main.js', import.meta.url);
    if (statSync(bundled).mtimeMs >= statSync(new URL('../dist/.tsbuildinfo', import.meta.url)).mtimeMs) return bundled.href;
  } catch {
    /* no bundle (or no build): dist/cli/main.js */
  }
  return '../dist/cli/main.js';
}

const main = entry();
import(main).catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && main === '../dist/cli/main.js') {
    console.error('stevedore: not built yet; run `npm install` (or `npm run build`) in the checkout');
    process.exit(1);
  }
  throw err;
});
