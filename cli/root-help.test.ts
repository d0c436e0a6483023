// cli/root-help.ts holds what commander prints for `stevedore --help`, so that cli/main.ts can
// print it without declaring every command. It must never drift from the commands: this test
// builds the real program and compares. After changing a command's name, arguments or
// description, regenerate it with
//   UPDATE_ROOT_HELP=1 npx vitest run cli/root-help.test.ts
import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { fullProgram } from './program.js';
import { ROOT_HELP, VERSION } from './root-help.js';

const FILE = new URL('./root-help.ts', import.meta.url);

describe('the ready-made root help', () => {
  it('is what commander prints for the program with every command declared', async () => {
    const program = await fullProgram();
    const help = program.helpInformation();
    if (process.env.UPDATE_ROOT_HELP) {
      const literal = '`' + help.replace(/[\\`]|\$\{/g, (c) => `\\${c}`) + '`';
      const text = (await readFile(FILE, 'utf8')).replace(/export const ROOT_HELP = [^]*$/, () => `export const ROOT_HELP = ${literal};\n`);
      await writeFile(FILE, text);
      return;
    }
    expect(ROOT_HELP, 'cli/root-help.ts is stale: UPDATE_ROOT_HELP=1 npx vitest run cli/root-help.test.ts').toBe(help);
    expect(program.version()).toBe(VERSION);
  });
});
