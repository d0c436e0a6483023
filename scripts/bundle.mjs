#!/usr/bin/env node
// Bundles the start path of the commands parsed without commander (help, version, images, ps,
// tags, pull -o, the push of a layout or archive, and run: cli/main.js, cli/light-commands.js, cli/engine-run.js and their actions)
// from tsc's output in dist/ into dist/bundle/, which bin/stevedore.js loads instead of
// dist/cli/main.js. A module of dist/ costs a command its own resolution, read, compile and link:
// `tags` loaded 25, `run` ~70; from the bundle they load 3 files. Modules loaded by import() stay
// lazy: esbuild runs a bundled module that is imported dynamically when it is first imported, and
// the builtins and packages it imports become modules of the bundle too (process.getBuiltinModule,
// require), loaded when the module that imports them runs. Left out, loaded from dist/ as before:
// cli/program.js (commander and every command's declaration: any other command line), the
// worker, monitor and helper scripts started as their own processes or threads, and the packages
// a module loads by import(). A bundled module that locates files beside itself (import.meta.url:
// the monitor script, the unpack worker, the console helper's C source) gets the URL of its file
// in dist/, where those files are. Run by `npm run build` and scripts/build-if-stale.mjs after
// tsc; without esbuild (an install without dev dependencies) there is no bundle and
// bin/stevedore.js loads dist/cli/main.js.
import { existsSync, readFileSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { builtinModules, createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const requireFrom = (root) => createRequire(join(root, 'package.json'));

/** A module that exports the names of `object` (an expression evaluated once, when it runs). */
function facade(object, names, required = false) {
  const valid = names.filter((n) => /^[A-Za-z_$][\w$]*$/.test(n) && n !== 'default');
  const main = required ? `m?.[Symbol.toStringTag] === 'Module' ? m.default : m` : 'm';
  return `const m = ${object};\nexport default ${main};\nexport const { ${valid.join(', ')} } = m;\n`;
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Builds dist/bundle/ from dist/; returns false (and leaves no bundle) when esbuild is missing. */
export async function bundle({ root = ROOT, verbose = false, log = (line) => process.stderr.write(`${line}\n`) } = {}) {
  const dist = join(root, 'dist');
  const out = join(dist, 'bundle');
  let esbuild;
  try {
    esbuild = await import(pathToFileURL(join(root, 'node_modules', 'esbuild', 'lib', 'main.js')).href);
  } catch {
    rmSync(out, { recursive: true, force: true });
    log('bundle: esbuild is not installed; the CLI runs from dist/cli/main.js (unbundled)');
    return false;
  }
  // Written beside dist/bundle/ (same depth: the relative paths below hold for both) and swapped
  // in whole: a command starting meanwhile finds the old bundle or none (then dist/cli/main.js).
  const staging = join(dist, `.bundle-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  const cli = join(dist, 'cli');
  // The files of the bundle: main, the parsers of the light commands and of run, and the actions
  // they import, each with the exports its importer uses (so the rest of the module, and what only
  // the rest imports, is left out: client-query-actions' `inspect` would bring the engine along).
  // Each holds everything its exports reach, statically or by import(), except an import() of
  // another of these, which it loads from its file in the bundle: a command loads main, its parser,
  // its action and, on a failure, error-report. Another export would be missing from the bundle:
  // the tests that run these commands (test/cli, test/engine) run the bundle.
  // Their names are unique: the bundle is one directory.
  const ENTRIES = {
    'light-commands': ['runLight'],
    'engine-run': ['quickRun'],
    'engine-container-actions': ['runIn'],
    'client-query-actions': ['tagsCommand'],
    'client-actions': ['pullToOutput', 'pushLayout'],
    'engine-images-list': ['listImages'],
    'engine-ps': ['listContainersAt'],
    'error-report': ['errorReport', 'failCommand'],
  };
  const main = join(cli, 'main.js');
  const entries = [main, ...Object.keys(ENTRIES).map((n) => join(cli, `${n}.js`))];
  const outside = new Map([[join(cli, 'program.js'), `./${relative(out, join(cli, 'program.js')).split(sep).join('/')}`]]);
  const builtins = new Set(builtinModules);
  const options = {
    absWorkingDir: root,
    entryPoints: [main, ...Object.keys(ENTRIES).map((name) => ({ in: `entry:${name}`, out: name }))],
    outdir: staging,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    logLevel: 'warning',
    metafile: true,
    plugins: [
      {
        name: 'stevedore-bundle',
        setup(build) {
          build.onResolve({ filter: /^entry:/ }, (args) => ({ path: args.path.slice('entry:'.length), namespace: 'entry' }));
          build.onLoad({ filter: /.*/, namespace: 'entry' }, (args) => ({ contents: `export { ${ENTRIES[args.path].join(', ')} } from ${JSON.stringify(join(cli, `${args.path}.js`))};\n`, loader: 'js', resolveDir: cli }));
          build.onResolve({ filter: /.*/ }, (args) => {
            if (args.kind === 'entry-point' || args.namespace === 'entry') return undefined;
            const spec = args.path;
            // Builtins and the packages a module imports statically become modules of the bundle
            // (below), so they load when the module that imports them runs, as before: an import
            // of them left in an ESM bundle would be hoisted to the file's top and load at start.
            const bare = spec.startsWith('node:') ? spec.slice(5) : spec;
            if (builtins.has(bare)) return { path: bare, namespace: 'builtin' };
            if (!spec.startsWith('.') && !spec.startsWith('/')) {
              return args.kind === 'dynamic-import' ? { path: spec, external: true } : { path: spec, namespace: 'package' };
            }
            const file = resolve(args.resolveDir, spec);
            if (outside.has(file)) return { path: outside.get(file), external: true };
            if (args.kind === 'dynamic-import' && entries.includes(file)) return { path: `./${basename(file)}`, external: true };
            return undefined;
          });
          build.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({ contents: facade(`process.getBuiltinModule(${JSON.stringify(`node:${args.path}`)})`, Object.keys(process.getBuiltinModule(`node:${args.path}`))), loader: 'js' }));
          build.onLoad({ filter: /.*/, namespace: 'package' }, async (args) => {
            const names = Object.keys(await import(pathToFileURL(requireFrom(root).resolve(args.path)).href)).filter((n) => n !== 'default');
            // require() of an ES module gives its namespace: its default export is `default`.
            const load = `process.getBuiltinModule("node:module").createRequire(import.meta.url)(${JSON.stringify(args.path)})`;
            return { contents: facade(load, names, true), loader: 'js' };
          });
          // Every output file is directly in dist/bundle/: a module's own URL is its file in dist/.
          build.onLoad({ filter: /\.js$/, namespace: 'file' }, (args) => {
            const text = readFileSync(args.path, 'utf8');
            if (!text.includes('import.meta.url') || !args.path.startsWith(dist + sep)) return undefined;
            const own = JSON.stringify(relative(out, args.path).split(sep).join('/'));
            return { contents: text.replaceAll('import.meta.url', `new URL(${own}, import.meta.url).href`), loader: 'js', resolveDir: dirname(args.path) };
          });
        },
      },
    ],
  };
  let result;
  try {
    result = await esbuild.build(options);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  rmSync(out, { recursive: true, force: true });
  renameSync(staging, out);
  // bin/stevedore.js takes the bundle when main.js is not older than tsc's last output.
  const now = new Date();
  utimesSync(join(out, 'main.js'), now, now);
  if (verbose) for (const [file, o] of Object.entries(result.metafile.outputs)) log(`bundle: ${file} ${o.bytes} bytes, ${Object.keys(o.inputs).length} modules`);
  return true;
}

/** Whether dist/bundle/ was made from the current tsc output (bin/stevedore.js checks the same). */
export function bundleIsCurrent(root = ROOT) {
  const main = join(root, 'dist', 'bundle', 'main.js');
  const info = join(root, 'dist', '.tsbuildinfo');
  return existsSync(main) && existsSync(info) && statSync(main).mtimeMs >= statSync(info).mtimeMs;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  bundle({ verbose: process.argv.includes('-v') }).catch((err) => {
    process.stderr.write(`bundle: ${err.message}\n`);
    process.exit(1);
  });
}
