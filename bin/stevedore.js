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

import('../dist/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('stevedore: not built yet; run `npm install` (or `npm run build`) in the checkout');
    process.exit(1);
  }
  throw err;
});
