// Registry-client commands end as soon as their work is done. They used to wait ~0.3–1 s after
// printing: Node does not exit before V8's background compiler has finished the WebAssembly
// module undici compiles for its HTTP parser, and on a loaded machine that took longer than the
// command. The transport is on Node's own http now. These tests assert the causes are gone (no
// WebAssembly compiled in a command; an idle pooled connection holds no reference to the event
// loop; close() leaves no connection), not a wall time, which would be flaky on a shared machine.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/index.js';
import { multiLayerImage, writeLayout } from '../helpers/oci-image-builder.js';
import { CLI, REPO_ROOT } from '../helpers/stevedore-process.js';

let dir: string;
let server: RunningServer;
let host: string;
let preload: string;

interface Report {
  wasmCompiles: number;
}

/** Runs the CLI with a preload that counts WebAssembly compilations; the report is on stderr. */
function stevedore(args: string[]): Promise<{ code: number; stdout: string; report: Report }> {
  return new Promise((resolve) => {
    const env = { ...process.env, DOCKER_CONFIG: join(dir, 'docker'), STEVEDORE_CERTS_DIRS: join(dir, 'no-certs'), STEVEDORE_DOCKER_DAEMON_JSON: join(dir, 'none.json') };
    execFile(process.execPath, ['--import', preload, CLI, ...args], { env, timeout: 120_000 }, (err, stdout, stderr) => {
      const line = stderr.split('\n').find((l) => l.startsWith('EXIT-REPORT '));
      expect(line, stderr).toBeDefined();
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, report: JSON.parse(line!.slice('EXIT-REPORT '.length)) as Report });
    });
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'command-exit-'));
  server = await startServer({ dataDir: join(dir, 'registry'), addr: '127.0.0.1:0', logLevel: 'silent' });
  host = new URL(server.url).host;
  preload = join(dir, 'count-wasm.mjs');
  await writeFile(
    preload,
    [
      'let n = 0;',
      'const W = globalThis.WebAssembly;',
      'const Module = W.Module;',
      'W.Module = function (...a) { n++; return new Module(...a); };',
      'for (const f of ["compile", "instantiate", "compileStreaming", "instantiateStreaming"]) { const g = W[f]; W[f] = (...a) => { n++; return g.apply(W, a); }; }',
      'process.on("exit", () => process.stderr.write(`EXIT-REPORT ${JSON.stringify({ wasmCompiles: n })}\\n`));',
    ].join('\n'),
  );
  await writeLayout(join(dir, 'image'), multiLayerImage({ tag: 'v1' }));
});

afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('registry-client commands leave nothing running when their work is done', () => {
  it('push, tags and pull compile no WebAssembly (whose background compilation held the exit)', async () => {
    const push = await stevedore(['push', '--plain-http', '-q', `oci:${join(dir, 'image')}:v1`, `${host}/exit/app:v1`]);
    expect(push.code).toBe(0);
    expect(push.report.wasmCompiles).toBe(0);

    const tags = await stevedore(['tags', '--plain-http', `${host}/exit/app`]);
    expect(tags.code).toBe(0);
    expect(tags.stdout).toBe('v1\n');
    expect(tags.report.wasmCompiles).toBe(0);

    const pull = await stevedore(['pull', '--plain-http', '-q', `${host}/exit/app:v1`, '-o', `oci:${join(dir, 'pulled')}:v1`]);
    expect(pull.code).toBe(0);
    expect(pull.stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(pull.report.wasmCompiles).toBe(0);
  });

  it('an idle pooled connection holds no reference to the event loop, and close() ends every connection', async () => {
    // In a process of its own: the server's side of the connection, in this one, is referenced.
    const script = `
      import { Client } from ${JSON.stringify(join(REPO_ROOT, 'dist', 'client', 'index.js'))};
      const client = new Client({ plainHttp: true, env: {}, certDirs: [] });
      const tags = await client.registryClient(${JSON.stringify(host)}).tags('exit/app');
      const pooled = client.transport.openConnections();
      const referenced = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
      await client.close();
      console.log(JSON.stringify({ tags, pooled, referenced, afterClose: client.transport.openConnections() }));
    `;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))),
    );
    // The connection stays pooled for the next request, without keeping a process alive that has
    // nothing else to do; close() ends it.
    expect(JSON.parse(out)).toEqual({ tags: ['v1'], pooled: 1, referenced: 0, afterClose: 0 });
  });
});

describe("Node's module compile cache (bin/stevedore.js)", () => {
  const version = (env: NodeJS.ProcessEnv) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [CLI, '--version'], { env: { ...process.env, ...env }, timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );

  it('is kept where STEVEDORE_COMPILE_CACHE says', async () => {
    const cache = join(dir, 'compile-cache');
    const r = await version({ STEVEDORE_COMPILE_CACHE: cache });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect((await readdir(cache, { recursive: true })).length).toBeGreaterThan(0);
  });

  it('never fails a command when its directory cannot be made', async () => {
    // A file where a directory of the path should be (permissions would not stop root, who runs
    // these tests).
    await writeFile(join(dir, 'not-a-dir'), '');
    const r = await version({ STEVEDORE_COMPILE_CACHE: join(dir, 'not-a-dir', 'cache') });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
