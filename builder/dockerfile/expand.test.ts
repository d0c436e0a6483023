import { describe, expect, it } from 'vitest';
import { expand, expandWords, ExpandError, keyValues } from './expand.js';

const vars = new Map([
  ['A', 'aval'],
  ['EMPTY', ''],
  ['SP', 'x y'],
]);

describe('expand', () => {
  it('substitutes $V and ${V}; unset is empty', () => {
    expect(expand('$A-${A}_$NOPE.', vars)).toBe('aval-aval_.');
  });
  it('supports the modifiers', () => {
    expect(expand('${NOPE:-def} ${EMPTY:-def} ${EMPTY-def} ${A:+alt} ${EMPTY:+alt} ${EMPTY+alt} ${NOPE+alt}', vars)).toBe('def def  alt  alt ');
    expect(expand('${NOPE:-$A/x}', vars)).toBe('aval/x');
    expect(() => expand('${NOPE:?must be set}', vars)).toThrow(ExpandError);
  });
  it('removes quotes: single quotes literal, double quotes expand', () => {
    expect(expand(`'$A' "$A" "a'b" 'a"b'`, vars)).toBe(`$A aval a'b a"b`);
  });
  it('the escape character makes the next one literal', () => {
    expect(expand('\\$A \\\\ "\\$A \\"q\\""', vars)).toBe('$A \\ $A "q"');
    expect(expand('`$A', vars, '`')).toBe('$A');
  });
  it('splits words on unquoted whitespace only, never on expanded values', () => {
    expect(expandWords(' a "b c"  $SP d\\ e ', vars)).toEqual(['a', 'b c', 'x y', 'd e']);
  });
  it('rejects unterminated quotes and braces', () => {
    expect(() => expand('"abc', vars)).toThrow(/double-quote/);
    expect(() => expand('${A', vars)).toThrow(ExpandError);
  });
});

describe('keyValues', () => {
  it('reads KEY=VALUE pairs, quoted values, with values from before the line', () => {
    expect(keyValues('A=new B=$A C="with space" D=\'$A\'', vars)).toEqual([
      { key: 'A', value: 'new' },
      { key: 'B', value: 'aval' },
      { key: 'C', value: 'with space' },
      { key: 'D', value: '$A' },
    ]);
  });
  it('reads the legacy KEY VALUE form as the rest of the line', () => {
    expect(keyValues('GREETING hello  $A world', vars)).toEqual([{ key: 'GREETING', value: 'hello  aval world' }]);
  });
  it('allows bare names for ARG', () => {
    expect(keyValues('X Y=1', vars, '\\', { allowBare: true })).toEqual([{ key: 'X' }, { key: 'Y', value: '1' }]);
  });
});
