// A `command:`/`entrypoint:` given as one string is split into words the way compose does (a
// POSIX shell's quoting, no expansion): `sh -c 'echo "a b"'` is three words.
import { ComposeError } from './errors.js';

export function shellWords(text: string, path: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new ComposeError(path, `unterminated ' quote in ${JSON.stringify(text)}`);
      cur += text.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      inWord = true;
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\' && j + 1 < text.length && '"\\$`\n'.includes(text[j + 1]!)) j++;
        cur += text[j];
      }
      if (j >= text.length) throw new ComposeError(path, `unterminated " quote in ${JSON.stringify(text)}`);
      i = j;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** Quotes words for /bin/sh -c (a health check's CMD form run through CMD-SHELL). */
export function shellQuote(words: string[]): string {
  return words.map((w) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`)).join(' ');
}
