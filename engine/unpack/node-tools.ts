// What Node cannot do itself, done by standard programs in one batch per layer: device nodes,
// fifos and overlayfs whiteouts (mknod/mkfifo from coreutils) and extended attributes (setfattr
// from Debian's `attr`, fed a getfattr-style dump so any name and any binary value is one call).
import { spawn } from 'node:child_process';
import { KindedError, type ErrorKind } from '../../util/errors.js';

/** A program the unpacker runs is missing (kind \`unsupported\` here) or failed (\`invalid\`: the layer asked for something it refused). */
export class ToolError extends KindedError {
  constructor(message: string, kind: ErrorKind = 'invalid') {
    super(kind, message);
    this.name = 'ToolError';
  }
}

function run(cmd: string, args: string[], opts: { cwd: string; input?: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['pipe', 'ignore', 'pipe'] });
    } catch (err) {
      reject(err);
      return;
    }
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 4000) stderr += d;
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT' ? new ToolError(`${cmd} is needed to unpack this layer and was not found (Debian: apt-get install ${cmd === 'setfattr' ? 'attr' : cmd})`, 'unsupported') : err);
    });
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new ToolError(`${cmd} failed (${signal ?? `exit ${code}`}): ${stderr.trim().split('\n')[0] ?? ''}`));
    });
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(opts.input ?? '');
  });
}

export interface NodeSpec {
  /** File name inside `dir`: plain ASCII, made by the caller. */
  name: string;
  kind: 'char' | 'block' | 'fifo';
  major: number;
  minor: number;
}

/** Creates device nodes and fifos in `dir` with one shell. */
export async function makeNodes(dir: string, nodes: NodeSpec[]): Promise<void> {
  if (nodes.length === 0) return;
  const lines = ['set -e'];
  for (const n of nodes) {
    if (!/^[A-Za-z0-9._-]+$/.test(n.name)) throw new Error(`bad node name ${n.name}`);
    if (n.kind === 'fifo') lines.push(`mkfifo -m 600 ${n.name}`);
    else lines.push(`mknod -m 600 ${n.name} ${n.kind === 'char' ? 'c' : 'b'} ${n.major >>> 0} ${n.minor >>> 0}`);
  }
  await run('sh', ['-s'], { cwd: dir, input: `${lines.join('\n')}\n` });
}

/** `\ooo` for every byte but a few safe ones: setfattr --restore reads names back with these escapes. */
function quote(path: string): string {
  let out = '';
  for (const b of Buffer.from(path, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9._/+,:@%-]/.test(c) ? c : `\\${b.toString(8).padStart(3, '0')}`;
  }
  return out;
}

/** Sets extended attributes on paths relative to `dir` (never following symlinks) with one setfattr. */
export async function setXattrs(dir: string, attrs: Map<string, Map<string, Buffer>>, dumpFile: string, writeDump: (path: string, text: string) => Promise<void>): Promise<void> {
  if (attrs.size === 0) return;
  let text = '';
  for (const [path, values] of attrs) {
    if (values.size === 0) continue;
    text += `# file: ${quote(path === '' ? '.' : path)}\n`;
    for (const [name, value] of values) text += `${name}=0s${value.toString('base64')}\n`;
    text += '\n';
  }
  if (!text) return;
  await writeDump(dumpFile, text);
  await run('setfattr', ['-h', `--restore=${dumpFile}`], { cwd: dir });
}
