import { describe, expect, it } from 'vitest';
import { DockerfileParseError, parseDockerfile, splitFlags } from './parser.js';

describe('parseDockerfile', () => {
  it('reads instructions case-insensitively, skips comments and blank lines', () => {
    const df = parseDockerfile('# a comment\n\nfrom busybox AS base\n  # indented comment\nrun echo hi\nCmd ["sh", "-c", "x"]\n');
    expect(df.instructions.map((i) => [i.cmd, i.args, i.line])).toEqual([
      ['FROM', 'busybox AS base', 3],
      ['RUN', 'echo hi', 5],
      ['CMD', '["sh", "-c", "x"]', 6],
    ]);
    expect(df.instructions[2]!.json).toEqual(['sh', '-c', 'x']);
    expect(df.instructions[1]!.json).toBeUndefined();
  });

  it('joins continuation lines, dropping comment lines inside them', () => {
    const df = parseDockerfile('RUN echo a \\\n# inside\n  && echo b \\\n\n  && echo c\nENV A=1');
    expect(df.instructions[0]!.args).toBe('echo a   && echo b   && echo c');
    expect(df.instructions[1]!.line).toBe(6);
  });

  it('honours the escape directive (backtick), and a directive only at the top', () => {
    const df = parseDockerfile('# escape=`\nFROM scratch\nRUN dir c:\\ `\n  && echo x\n');
    expect(df.escape).toBe('`');
    expect(df.instructions[1]!.args).toBe('dir c:\\   && echo x');
    const late = parseDockerfile('FROM scratch\n# escape=`\nRUN a \\\n b');
    expect(late.escape).toBe('\\');
    expect(late.instructions[1]!.args).toBe('a  b');
  });

  it('accepts # syntax= and records it', () => {
    expect(parseDockerfile('# syntax=docker/dockerfile:1\nFROM scratch').syntax).toBe('docker/dockerfile:1');
  });

  it('parses flags before the arguments', () => {
    const df = parseDockerfile('COPY --from=build --chown=1:2 --chmod=755 a b /dst/\nRUN --mount=type=cache,target=/c --network=none make');
    expect(df.instructions[0]!.flags).toEqual([
      { name: 'from', value: 'build' },
      { name: 'chown', value: '1:2' },
      { name: 'chmod', value: '755' },
    ]);
    expect(df.instructions[0]!.args).toBe('a b /dst/');
    expect(df.instructions[1]!.flags.map((f) => f.name)).toEqual(['mount', 'network']);
    expect(splitFlags('--link a').flags).toEqual([{ name: 'link', value: '' }]);
  });

  it('reads heredocs, with <<- tab stripping and quoted delimiters that turn expansion off', () => {
    const df = parseDockerfile('RUN <<EOF\necho $A\n  two\nEOF\nCOPY <<-"END" /f\n\tline\n\tEND\nRUN cat <<A <<B\na\nA\nb\nB\n');
    const [run, copy, two] = df.instructions;
    expect(run!.heredocs).toEqual([{ name: 'EOF', content: 'echo $A\n  two\n', expand: true }]);
    expect(copy!.heredocs).toEqual([{ name: 'END', content: 'line\n', expand: false }]);
    expect(copy!.args).toBe('<<-"END" /f');
    expect(two!.heredocs.map((h) => h.content)).toEqual(['a\n', 'b\n']);
  });

  it('names the file, line and column of an error', () => {
    try {
      parseDockerfile('FROM scratch\n\n  BOGUS x\n', 'ctx/Dockerfile');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DockerfileParseError);
      expect((err as Error).message).toBe('ctx/Dockerfile:3:3: unknown instruction: BOGUS');
    }
    expect(() => parseDockerfile('RUN <<EOF\nnever closed\n')).toThrow(/Dockerfile:1:1: unterminated heredoc <<EOF/);
    expect(() => parseDockerfile('WORKDIR\n')).toThrow(/WORKDIR requires at least one argument/);
  });

  it('treats a non-array or non-string JSON as the shell form', () => {
    const df = parseDockerfile('CMD [1, 2]\nCMD [ "a" ');
    expect(df.instructions[0]!.json).toBeUndefined();
    expect(df.instructions[1]!.json).toBeUndefined();
  });
});
