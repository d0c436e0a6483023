// The user documentation against the code it describes: every configuration key and command is
// documented, every server configuration example loads, and every relative link resolves.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigSchema, OTHER_STEVEDORE_VARIABLES, loadConfig } from '../../server/config.js';

const ROOT = resolve(import.meta.dirname, '../..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** STEVEDORE_* variables of the server configuration: one per leaf of the defaults, as configFromEnv reads them. */
function serverVariables(): string[] {
  const out: string[] = [];
  const walk = (value: unknown, path: string[]) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walk(v, [...path, k]);
    } else out.push(`STEVEDORE_${path.join('_').toUpperCase()}`);
  };
  walk(ConfigSchema.parse({}), []);
  return out;
}

/** Variables read outside the server configuration (client, engine, CLI, tests): the list `serve` accepts. */
const OTHER_VARIABLES = OTHER_STEVEDORE_VARIABLES;

function yamlBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

describe('docs/configuration.md', () => {
  const text = read('docs/configuration.md');

  it('names the variable of every server configuration key', () => {
    const missing = serverVariables().filter((v) => !text.includes(`\`${v}\``));
    expect(missing, 'document these keys in docs/configuration.md').toEqual([]);
  });

  it('names no variable that nothing reads', () => {
    const known = new Set([...serverVariables(), ...OTHER_VARIABLES]);
    const unknown = [...new Set([...text.matchAll(/STEVEDORE_[A-Z0-9_]+/g)].map((m) => m[0]))].filter((v) => !known.has(v));
    expect(unknown).toEqual([]);
  });
});

describe('server configuration examples', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stevedore-docs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const examples = ['README.md', 'docs/operations.md'].flatMap((doc) => yamlBlocks(read(doc)).map((yaml, i) => ({ doc, i, yaml })));

  it('there are examples to check', () => {
    expect(examples.length).toBeGreaterThan(5);
  });

  it.each(examples)('$doc: YAML example $i is a valid configuration', ({ doc, i, yaml }) => {
    const file = join(dir, `${doc.replace(/\W/g, '_')}-${i}.yml`);
    writeFileSync(file, yaml);
    expect(() => loadConfig({ file, env: {} })).not.toThrow();
  });
});

describe('docs/cli.md', () => {
  it('documents every command', () => {
    const text = read('docs/cli.md');
    const sources = readdirSync(join(ROOT, 'cli')).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
    const commands = new Set(sources.flatMap((f) => [...read(`cli/${f}`).matchAll(/\.command\('([a-z-]+)'/g)].map((m) => m[1]!)));
    expect(commands.size).toBeGreaterThan(20);
    // Subcommands (`compose config`, `network create`) count under their parent command.
    const missing = [...commands].filter((c) => !new RegExp(`stevedore (?:[a-z-]+ )?${c}\\b`).test(text));
    expect(missing, 'document these commands in docs/cli.md').toEqual([]);
  });
});

describe('links', () => {
  it.each(DOCS)('every relative link in %s resolves to a file and heading', (doc) => {
    const broken: string[] = [];
    for (const m of read(doc).matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      const [path, hash] = target.split('#') as [string, string | undefined];
      const file = path ? resolve(dirname(join(ROOT, doc)), path) : join(ROOT, doc);
      if (!existsSync(file)) {
        broken.push(target);
        continue;
      }
      if (hash === undefined || !file.endsWith('.md')) continue;
      const anchors = [...readFileSync(file, 'utf8').matchAll(/^#+ (.+)$/gm)].map((h) => anchor(h[1]!));
      if (!anchors.includes(hash)) broken.push(target);
    }
    expect(broken).toEqual([]);
  });
});
