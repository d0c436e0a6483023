// Each command loads only what it uses (bench/cli-start.ts times them against `node -e 0`): the
// compiled CLI run with a module hook that records every module it loads. A static import added
// in the wrong place (the engine in a declaration module, the network code under `ps`) shows here,
// in tsc's output (STEVEDORE_NO_BUNDLE=1). The bundle of the light commands' start path
// (scripts/bundle.mjs) must load its few files and no builtin module more than tsc's output does.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, REPO_ROOT } from '../helpers/stevedore-process.js';

let dir: string;
let hook: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'module-loading-'));
  hook = join(dir, 'hook.mjs');
  await writeFile(
    hook,
    `import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
const seen = [];
registerHooks({ load(url, context, next) { seen.push(url); return next(url, context); } });
process.on('exit', () => {
  writeFileSync(process.env.MODULES_OUT, seen.join('\\n'));
  // Builtins, however loaded (import, require, process.getBuiltinModule), Node's internals included.
  writeFileSync(process.env.MODULES_OUT + '.builtins', process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).join('\\n'));
});
`,
  );
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The stevedore modules (paths under dist/) and packages a command line loaded (tsc's output unless `bundle`). */
async function modulesOf(args: string[], opts: { fails?: boolean; bundle?: boolean } = {}): Promise<string[]> {
  return (await loaded(args, opts)).modules;
}

async function loaded(args: string[], opts: { fails?: boolean; bundle?: boolean } = {}): Promise<{ modules: string[]; builtins: string[] }> {
  const out = join(dir, 'modules.txt');
  const env = { ...process.env, MODULES_OUT: out, STEVEDORE_ROOT: join(dir, 'root'), STEVEDORE_NO_BUNDLE: opts.bundle ? '' : '1' };
  await new Promise<void>((resolve, reject) =>
    execFile(process.execPath, ['--import', hook, CLI, ...args], { env, timeout: 120_000 }, (err, _o, stderr) =>
      !err === !opts.fails ? resolve() : reject(new Error(`${args.join(' ')}: ${err ? stderr : 'succeeded'}`)),
    ),
  );
  const builtins = (await readFile(`${out}.builtins`, 'utf8')).split('\n').map((m) => m.slice('NativeModule '.length));
  const modules = (await readFile(out, 'utf8'))
    .split('\n')
    .map((u) => u.replace(/^file:\/\/.*?\/dist\//, '').replace(/^file:\/\/.*\/node_modules\/([^/]+)\/.*$/, 'package:$1'))
    .filter((u) => !u.startsWith('node:') && !u.endsWith('bin/stevedore.js'));
  return { modules, builtins };
}

describe('what a command loads', () => {
  it('--help and --version load neither commander nor any command module', async () => {
    for (const args of [['--help'], ['--version']]) {
      expect(await modulesOf(args)).toEqual(['cli/main.js', 'cli/root-help.js']);
    }
  });

  it('ps of an empty root loads no lifecycle, network, store or client code', async () => {
    const mods = await modulesOf(['ps', '-a']);
    expect(mods).toContain('cli/engine-ps.js');
    expect(mods.filter((m) => /lifecycle|engine\/network\/|engine\/store\/|^client\/|engine-container-actions|package:undici/.test(m))).toEqual([]);
  });

  it('a command\'s help loads its declarations, not its implementation', async () => {
    const mods = await modulesOf(['run', '--help']);
    expect(mods).toContain('cli/engine-container-commands.js');
    // engine/root.js: the default of the global --root option, a few lines.
    expect(mods.filter((m) => (m.startsWith('engine/') && m !== 'engine/root.js') || m.includes('-actions.js'))).toEqual([]);
  });

  it('a plain run is parsed without commander or the other commands\' declarations', async () => {
    // Fails at the first check of its options (before any image or root work), after the parse.
    const mods = await modulesOf(['run', '--rm', '--network', 'none', '--runtime', 'nosuch', 'img:1', 'true'], { fails: true });
    expect(mods).toContain('cli/engine-run.js');
    expect(mods).toContain('cli/engine-container-actions.js');
    expect(mods.filter((m) => m === 'package:commander' || /cli\/(program|engine-container-commands|engine-network-commands)\.js/.test(m))).toEqual([]);
  });
});

describe('what a command loads from the bundle', () => {
  // Each fails or lists nothing, as above: what counts is what it loaded to get there.
  const lines: { args: string[]; fails?: boolean; files: string[] }[] = [
    { args: ['--version'], files: ['bundle/main.js'] },
    { args: ['images'], files: ['bundle/main.js', 'bundle/light-commands.js', 'bundle/engine-images-list.js'] },
    { args: ['ps', '-a'], files: ['bundle/main.js', 'bundle/light-commands.js', 'bundle/engine-ps.js'] },
    // Nothing listens on port 1: the request fails (error-report.js reports it).
    { args: ['tags', '--plain-http', '127.0.0.1:1/a/b'], fails: true, files: ['bundle/main.js', 'bundle/light-commands.js', 'bundle/client-query-actions.js', 'bundle/error-report.js'] },
    { args: ['run', '--rm', '--network', 'none', '--runtime', 'nosuch', 'img:1', 'true'], fails: true, files: ['bundle/main.js', 'bundle/engine-run.js', 'bundle/engine-container-actions.js'] },
  ];
  for (const line of lines) {
    it(`${line.args.join(' ')}: its few files, no builtin the unbundled command does not load`, async () => {
      const bundled = await loaded(line.args, { fails: line.fails, bundle: true });
      expect(bundled.modules).toEqual(line.files);
      const unbundled = await loaded(line.args, { fails: line.fails });
      // An ES module's import.meta (the bundle's files read it to find packages and scripts).
      const extra = bundled.builtins.filter((m) => !unbundled.builtins.includes(m) && m !== 'internal/modules/esm/initialize_import_meta');
      expect(extra).toEqual([]);
    });
  }

  it('a bundle older than tsc\'s last output (a compile without the bundle step) is passed over', async () => {
    const main = join(REPO_ROOT, 'dist', 'bundle', 'main.js');
    const { atime, mtime } = await stat(main);
    const info = await stat(join(REPO_ROOT, 'dist', '.tsbuildinfo'));
    const before = new Date(info.mtimeMs - 60_000);
    await utimes(main, before, before);
    try {
      expect(await modulesOf(['--version'], { bundle: true })).toEqual(['cli/main.js', 'cli/root-help.js']);
    } finally {
      await utimes(main, atime, mtime);
    }
    expect(await modulesOf(['--version'], { bundle: true })).toEqual(['bundle/main.js']);
  });
});
