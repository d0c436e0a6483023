import { describe, expect, it } from 'vitest';
import { interpolate, interpolateTree, InterpolationError } from './interpolate.js';

const env: Record<string, string> = { SET: 'value', EMPTY: '', FOO: 'foo' };
const lookup = (n: string) => env[n];

describe('interpolate', () => {
  it.each([
    ['$SET', 'value'],
    ['${SET}', 'value'],
    ['a${SET}b$SET-c', 'avalueb' + 'value-c'],
    ['${UNSET:-d}', 'd'],
    ['${EMPTY:-d}', 'd'],
    ['${EMPTY-d}', ''],
    ['${UNSET-d}', 'd'],
    ['${SET:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['${EMPTY+alt}', 'alt'],
    ['${UNSET+alt}', ''],
    ['${UNSET:-${FOO}}', 'foo'],
    ['${UNSET:-${ALSO:-deep}}', 'deep'],
    ['$$SET', '$SET'],
    ['cost $$5', 'cost $5'],
    ['$1 and $', '$1 and $'],
    ['${UNSET}', ''],
  ])('%s → %s', (input, out) => {
    expect(interpolate(input, lookup)).toBe(out);
  });
  it('reports unset plain references', () => {
    const unset: string[] = [];
    interpolate('$A ${B} ${C:-x}', lookup, (n) => unset.push(n));
    expect(unset).toEqual(['A', 'B']);
  });
  it('fails on a required variable with its message', () => {
    expect(() => interpolate('${UNSET:?set UNSET first}', lookup)).toThrow('required variable UNSET is missing a value: set UNSET first');
    expect(() => interpolate('${EMPTY:?x}', lookup)).toThrow(InterpolationError);
    expect(interpolate('${EMPTY?x}', lookup)).toBe('');
  });
  it('refuses malformed expressions', () => {
    expect(() => interpolate('${SET', lookup)).toThrow(/missing "}"/);
    expect(() => interpolate('${SET/a/b}', lookup)).toThrow(/invalid interpolation/);
    expect(() => interpolate('${}', lookup)).toThrow(/invalid interpolation/);
  });
  it('interpolates values, not keys, and names the key path of an error', () => {
    expect(interpolateTree({ $SET: ['$SET', 1, true, null] }, lookup)).toEqual({ $SET: ['value', 1, true, null] });
    expect(() => interpolateTree({ services: { web: { image: '${TAG:?}' } } }, lookup)).toThrow(/^services\.web\.image: required variable TAG/);
  });
});
