import { describe, expect, it } from 'vitest';
import { attributeName, parseLight, type LightCommand } from './light-argv.js';

const spec: LightCommand = {
  options: [
    { short: '-a', long: '--all', kind: 'flag' },
    { short: '-q', long: '--quiet', kind: 'flag' },
    { long: '--no-trunc', kind: 'negated' },
    { short: '-f', long: '--filter', kind: 'repeated', emptyList: true },
    { long: '--insecure-registry', kind: 'repeated' },
    { long: '--format', kind: 'value' },
    { short: '-n', long: '--last', kind: 'value' },
  ],
  operands: 0,
};
const defaults = { trunc: true, filter: [] };

describe('parseLight', () => {
  it('names options as commander does', () => {
    expect(attributeName('--plain-http')).toBe('plainHttp');
    expect(attributeName('--no-trunc')).toBe('trunc');
    expect(attributeName('--client-config')).toBe('clientConfig');
  });

  it('reads flags, values, negated flags and repeated options with their defaults', () => {
    expect(parseLight([], spec)).toEqual({ opts: defaults, operands: [] });
    expect(parseLight(['-a', '--quiet', '--no-trunc'], spec)).toEqual({ opts: { all: true, quiet: true, trunc: false, filter: [] }, operands: [] });
    expect(parseLight(['-f', 'a=1', '--filter', 'b=2', '--filter=c=3', '-fd=4'], spec)?.opts.filter).toEqual(['a=1', 'b=2', 'c=3', 'd=4']);
    expect(parseLight(['--insecure-registry', 'h:5000'], spec)?.opts).toEqual({ ...defaults, insecureRegistry: ['h:5000'] });
    expect(parseLight(['--format', '{{.ID}}', '--format={{.Names}}'], spec)?.opts.format).toBe('{{.Names}}');
    expect(parseLight(['--format='], spec)?.opts.format).toBe('');
  });

  it('reads a group of one-letter flags, and a value joined to the last letter', () => {
    expect(parseLight(['-aq'], spec)?.opts).toEqual({ ...defaults, all: true, quiet: true });
    expect(parseLight(['-an3'], spec)?.opts).toEqual({ ...defaults, all: true, last: '3' });
    expect(parseLight(['-qn', '5'], spec)?.opts).toEqual({ ...defaults, quiet: true, last: '5' });
  });

  it('takes the next word as a value whatever it looks like, as commander does', () => {
    expect(parseLight(['-n', '-1'], spec)?.opts.last).toBe('-1');
    expect(parseLight(['--format', '-q'], spec)?.opts.format).toBe('-q');
  });

  it('counts operands', () => {
    const one = { options: [], operands: 1 };
    expect(parseLight(['repo'], one)).toEqual({ opts: {}, operands: ['repo'] });
    expect(parseLight(['-'], one)).toEqual({ opts: {}, operands: ['-'] });
    expect(parseLight([], one)).toBeUndefined();
    expect(parseLight(['a', 'b'], one)).toBeUndefined();
    expect(parseLight(['x'], spec)).toBeUndefined();
  });

  it('leaves to commander what it would refuse, or read otherwise', () => {
    for (const args of [
      ['--bogus'],
      ['-x'],
      ['-ax'],
      ['--quiet=yes'], // a flag with a value
      ['--format'], // a value missing
      ['-n'],
      ['-h'],
      ['--help'],
      ['-a', '--help'],
      ['--format', '--help'], // commander's help, or the format's value: commander decides
      ['--'],
      ['-a', '--', 'x'],
      ['--root', '/r'], // the program's option after the command
      ['--format', '--root=/r'],
      ['--trunc'], // only --no-trunc is declared
      ['-5'],
    ]) {
      expect(parseLight(args, spec), args.join(' ')).toBeUndefined();
    }
  });
});
