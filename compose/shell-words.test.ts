import { describe, expect, it } from 'vitest';
import { shellQuote, shellWords } from './shell-words.js';

describe('shellWords', () => {
  it('splits on blanks and keeps quoted blanks, like a POSIX shell without expansion', () => {
    expect(shellWords(`sh -c 'echo "a b"; exit 3'`, 'p')).toEqual(['sh', '-c', 'echo "a b"; exit 3']);
    expect(shellWords(`echo "x \\"y\\" $HOME" a\\ b ''`, 'p')).toEqual(['echo', 'x "y" $HOME', 'a b', '']);
    expect(shellWords('  httpd   -f  ', 'p')).toEqual(['httpd', '-f']);
  });
  it('an unterminated quote is an error naming the key', () => {
    expect(() => shellWords(`echo 'oops`, 'services.web.command')).toThrow(/^services\.web\.command: unterminated ' quote/);
  });
  it('shellQuote gives words back through sh -c unchanged', () => {
    expect(shellQuote(['mc', 'ready', 'local'])).toBe('mc ready local');
    expect(shellQuote(['sh', '-c', "it's $x"])).toBe(`sh -c 'it'\\''s $x'`);
    expect(shellWords(shellQuote(['a b', "c'd"]), 'p')).toEqual(['a b', "c'd"]);
  });
});
