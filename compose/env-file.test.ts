import { describe, expect, it } from 'vitest';
import { EnvFileError, parseEnvFile } from './env-file.js';

describe('parseEnvFile', () => {
  it('reads plain, exported, quoted and commented lines', () => {
    const vars = parseEnvFile(
      ['# comment', 'A=1', 'export B=two words', "C='lit $A'", 'D="x\\ny $A"', 'E=val # note', 'F=', '', 'G="multi', 'line"'].join('\n'),
    );
    expect(Object.fromEntries(vars)).toEqual({ A: '1', B: 'two words', C: 'lit $A', D: 'x\ny 1', E: 'val', F: '', G: 'multi\nline' });
  });
  it('interpolates earlier keys first, then the environment', () => {
    const vars = parseEnvFile('X=${HOME_DIR}/a\nY=${X}/b\nZ=${UNSET:-d}', (n) => (n === 'HOME_DIR' ? '/h' : undefined));
    expect(vars.get('Y')).toBe('/h/a/b');
    expect(vars.get('Z')).toBe('d');
  });
  it('takes a bare KEY from the environment only when set', () => {
    const vars = parseEnvFile('SET\nUNSET', (n) => (n === 'SET' ? 'v' : undefined));
    expect(Object.fromEntries(vars)).toEqual({ SET: 'v' });
  });
  it('names the file and line of a bad name or an unterminated quote', () => {
    expect(() => parseEnvFile('OK=1\n1BAD=2', undefined, '.env')).toThrow(/\.env:2: invalid variable name/);
    expect(() => parseEnvFile('A="open', undefined, '.env')).toThrow(EnvFileError);
  });
});
