// Loading a compose project: which files, the project name and directory, `.env`, interpolation
// per file, canonical forms, the merge of several files, `extends`, profiles, `env_file`, and the
// checked model. Everything a `compose` command needs before it touches the engine.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { parse, YAMLParseError } from 'yaml';
import { canonicalService, extendsOf, isMapping, type Raw } from './canonical.js';
import { parseEnvFile } from './env-file.js';
import { ComposeError } from './errors.js';
import { interpolateTree, InterpolationError, type Lookup } from './interpolate.js';
import { mergeFiles, mergeServices, untag } from './merge.js';
import { toProject, type Project } from './model.js';
import { composeTags } from './yaml-tags.js';

export interface LoadOptions {
  /** `-f` files, in order; default: compose.yaml (or its older names) and its override file. */
  files?: string[];
  /** Where to look for the default files and `.env`; default: the current directory. */
  workingDir?: string;
  /** `-p`. */
  projectName?: string;
  /** `--env-file`; default: `.env` in the project directory when present. */
  envFiles?: string[];
  /** `--profile`; default: COMPOSE_PROFILES. */
  profiles?: string[];
  /** The shell's environment; default: process.env. */
  environment?: Record<string, string | undefined>;
}

export interface LoadedProject {
  project: Project;
  /** One line each: unset variables, keys ignored. */
  warnings: string[];
  files: string[];
  /** Variables from `.env`/`--env-file` and the shell, as interpolation saw them. */
  lookup: Lookup;
  /** Services the active profiles leave out: still the project's (their containers are no orphans). */
  disabled: string[];
}

const DEFAULT_FILES = ['compose.yaml', 'compose.yml', 'docker-compose.yaml', 'docker-compose.yml'];

function defaultFiles(dir: string): string[] {
  const main = DEFAULT_FILES.map((f) => resolve(dir, f)).find((f) => existsSync(f));
  if (!main) throw new ComposeError('', `no compose file found in ${dir} (looked for ${DEFAULT_FILES.join(', ')}); name one with -f`);
  const override = main.replace(/\.(ya?ml)$/, '.override.$1');
  const alt = override.endsWith('.yaml') ? override.replace(/\.yaml$/, '.yml') : override.replace(/\.yml$/, '.yaml');
  return [main, ...[override, alt].filter((f, i, all) => existsSync(f) && all.indexOf(f) === i).slice(0, 1)];
}

/** The project name as compose normalises it: lower case, only [a-z0-9_-], starting with a letter or digit. */
export function normaliseProjectName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[_-]+/, '');
}

function readYaml(file: string): Raw {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ComposeError('', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parse(text, { merge: true, customTags: composeTags, uniqueKeys: true, maxAliasCount: 1000 });
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const pos = err.linePos?.[0];
      throw new ComposeError('', `${file}${pos ? `:${pos.line}:${pos.col}` : ''}: ${err.message.split('\n')[0]}`);
    }
    throw err;
  }
  if (doc === null || doc === undefined) return {};
  if (!isMapping(doc)) throw new ComposeError('', `${file}: the top level must be a mapping`);
  return doc;
}

/** One file: read, interpolated, services in canonical form (relative paths from `baseDir`). */
function loadFile(file: string, baseDir: string, lookup: Lookup, warnings: string[]): Raw {
  const raw = readYaml(file);
  let tree: Raw;
  try {
    tree = interpolateTree(raw, lookup, (name, path) => {
      const line = `${path}: variable ${name} is not set, an empty string is used`;
      if (!warnings.includes(line)) warnings.push(line);
    }) as Raw;
  } catch (err) {
    if (err instanceof InterpolationError) throw new ComposeError('', `${file}: ${err.message}`);
    throw err;
  }
  if (tree.services !== undefined) {
    if (!isMapping(tree.services)) throw new ComposeError('services', 'must be a mapping');
    const services: Raw = {};
    for (const [name, s] of Object.entries(tree.services)) services[name] = canonicalService(s, baseDir, `services.${name}`);
    tree.services = services;
  }
  return tree;
}

/** Resolves `extends` of every service of `services` (one file's or the merged tree's). */
function resolveExtends(services: Raw, baseDir: string, lookup: Lookup, warnings: string[], fileCache: Map<string, Raw>): Raw {
  const done = new Map<string, Raw>();
  const visit = (name: string, pool: Raw, dir: string, stack: string[]): Raw => {
    const key = `${dir}\u0000${name}`;
    const cached = pool === services ? done.get(name) : undefined;
    if (cached) return cached;
    if (stack.includes(key)) throw new ComposeError(`services.${name}.extends`, `circular extends: ${[...stack, key].map((k) => k.split('\u0000')[1]).join(' → ')}`);
    const raw = pool[name];
    if (raw === undefined) throw new ComposeError(`services.${stack.length ? stack[stack.length - 1]!.split('\u0000')[1] : name}.extends`, `service ${JSON.stringify(name)} not found`);
    const svc = raw as Raw;
    const ext = extendsOf(svc, `services.${name}`);
    let result: Raw;
    if (!ext) result = svc;
    else {
      let basePool = pool;
      let baseDirOf = dir;
      if (ext.file) {
        const file = resolve(dir, ext.file);
        let tree = fileCache.get(file);
        if (!tree) {
          tree = loadFile(file, dirname(file), lookup, warnings);
          fileCache.set(file, tree);
        }
        basePool = (tree.services as Raw | undefined) ?? {};
        baseDirOf = dirname(file);
      }
      const base = visit(ext.service, basePool, baseDirOf, [...stack, key]);
      const { extends: _drop, ...own } = svc;
      void _drop;
      result = mergeServices(base, own);
    }
    if (pool === services) done.set(name, result);
    return result;
  };
  const out: Raw = {};
  for (const name of Object.keys(services)) out[name] = visit(name, services, baseDir, []);
  return out;
}

function resolveEnvironment(svc: Raw, name: string, lookup: Lookup): Record<string, string> {
  const env: Record<string, string> = {};
  for (const f of (svc.env_file as { path: string; required: boolean }[] | undefined) ?? []) {
    let text: string;
    try {
      text = readFileSync(f.path, 'utf8');
    } catch (err) {
      if (!f.required && (err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new ComposeError(`services.${name}.env_file`, `cannot read ${f.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    for (const [k, v] of parseEnvFile(text, lookup, f.path)) env[k] = v;
  }
  for (const [k, v] of Object.entries((svc.environment as Record<string, string | null> | undefined) ?? {})) {
    if (v !== null) env[k] = v;
    else {
      // `KEY` with no value: taken from the shell (or .env) when set, left out otherwise.
      const fromShell = lookup(k);
      if (fromShell !== undefined) env[k] = fromShell;
      else delete env[k];
    }
  }
  return env;
}

/** Loads and checks a project. Throws ComposeError (one line naming the key path) when it cannot be used. */
export function loadProject(opts: LoadOptions = {}): LoadedProject {
  const shell = opts.environment ?? process.env;
  const cwd = resolve(opts.workingDir ?? process.cwd());
  const fromEnv = shell.COMPOSE_FILE ? shell.COMPOSE_FILE.split(shell.COMPOSE_PATH_SEPARATOR ?? ':').filter(Boolean) : [];
  const files = opts.files?.length ? opts.files.map((f) => resolve(cwd, f)) : fromEnv.length ? fromEnv.map((f) => resolve(cwd, f)) : defaultFiles(cwd);
  const projectDir = dirname(files[0]!);
  // .env (or --env-file) supplies variables the shell does not set: the shell wins.
  const dotenv = new Map<string, string>();
  const envFiles = opts.envFiles?.length ? opts.envFiles.map((f) => resolve(cwd, f)) : [resolve(projectDir, '.env')].filter((f) => existsSync(f));
  for (const f of envFiles) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (err) {
      throw new ComposeError('', `cannot read env file ${f}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    for (const [k, v] of parseEnvFile(text, (n) => shell[n] ?? dotenv.get(n), f)) dotenv.set(k, v);
  }
  const lookup: Lookup = (n) => shell[n] ?? dotenv.get(n);
  const warnings: string[] = [];
  let tree: Raw = {};
  for (const file of files) tree = mergeFiles(tree, loadFile(file, projectDir, lookup, warnings));
  tree = untag(tree) as Raw;
  const fileCache = new Map<string, Raw>();
  if (isMapping(tree.services)) tree.services = resolveExtends(tree.services, projectDir, lookup, warnings, fileCache);

  const rawName = opts.projectName ?? lookup('COMPOSE_PROJECT_NAME') ?? (typeof tree.name === 'string' ? tree.name : undefined) ?? basename(projectDir);
  const name = normaliseProjectName(rawName);
  if (!name) throw new ComposeError(opts.projectName ? '' : 'name', `invalid project name ${JSON.stringify(rawName)}: use lower-case letters, digits, "-" and "_"`);

  // Profiles: a service with profiles runs only when one of them is active.
  const active = opts.profiles?.length ? opts.profiles : (lookup('COMPOSE_PROFILES') ?? '').split(',').filter(Boolean);
  const services = (tree.services as Raw | undefined) ?? {};
  const enabled: Raw = {};
  for (const [sname, svc] of Object.entries(services)) {
    const profiles = ((svc as Raw).profiles as string[] | undefined) ?? [];
    if (profiles.length === 0 || active.includes('*') || profiles.some((p) => active.includes(p))) enabled[sname] = svc;
  }
  for (const [sname, svc] of Object.entries(enabled)) {
    for (const [dep, d] of Object.entries(((svc as Raw).depends_on as Raw | undefined) ?? {})) {
      if (!(dep in enabled) && dep in services && (d as Raw).required !== false) {
        throw new ComposeError(`services.${sname}.depends_on`, `service ${JSON.stringify(dep)} is disabled by its profiles; activate one with --profile`);
      }
    }
    (svc as Raw).environment = resolveEnvironment(svc as Raw, sname, lookup);
  }
  tree.services = enabled;
  const project = toProject(tree, name, projectDir, warnings);
  const disabled = Object.keys(services).filter((n) => !(n in enabled));
  return { project, warnings, files, lookup, disabled };
}
