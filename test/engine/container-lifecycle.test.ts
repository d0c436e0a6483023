// Containers over time: `run -d` with its monitor, ps, logs [-f], stop, kill, exec, rm, prune,
// names and id prefixes, signals forwarded by a foreground run, and a run whose `stevedore`
// process was killed. Real runc, real overlayfs, as root.
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { engineEnv, type EngineEnv } from '../helpers/engine-cli.js';
import { CLI } from '../helpers/stevedore-process.js';

let e: EngineEnv;

beforeAll(async () => {
  e = await engineEnv();
});

// Each test removes its containers; one that failed must not leave them to fail the next ones.
afterEach(async () => {
  await e?.reset();
});

afterAll(async () => {
  await e?.close();
});

const LOOP = 'while true; do sleep 0.1; done';

function exitOf(child: ReturnType<EngineEnv['spawn']>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

async function inspect(ref: string): Promise<Record<string, unknown> & { id: string; state: string; exitCode?: number | null; pid?: number }> {
  return JSON.parse(await e.ok(['container', 'inspect', ref]))[0];
}

describe('detached containers', () => {
  it('run -d prints the id; ps shows it; logs has its output; stop ends it with its exit status', async () => {
    const id = (await e.ok(['run', '-d', '--name', 'svc', 'busybox:test', 'sh', '-c', `echo started; echo warn >&2; trap 'echo stopping; exit 7' TERM; ${LOOP}`])).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    await e.waitRunning('svc');
    expect(await e.ok(['ps'])).toMatch(new RegExp(`^${id.slice(0, 12)}\\s+busybox:test\\s+"sh -c echo started.*Up .*svc$`, 'm'));
    let seen = '';
    await e.waitFor(
      () => `the first log lines (seen: ${JSON.stringify(seen)}; container: ${JSON.stringify(JSON.parse(execFileSync(process.execPath, [CLI, 'container', 'inspect', 'svc'], { env: e.env, encoding: 'utf8' })))})`,
      async () => {
        const r = await e.stevedore(['logs', 'svc']);
        seen = r.stdout + r.stderr;
        return r.stdout === 'started\n' && r.stderr === 'warn\n';
      },
    );
    expect(await e.ok(['stop', 'svc'])).toBe('svc\n');
    const c = await inspect('svc');
    expect(c).toMatchObject({ state: 'exited', exitCode: 7 });
    // stdout and stderr kept apart, as docker's logs does.
    const logs = await e.stevedore(['logs', 'svc']);
    expect(logs).toMatchObject({ code: 0, stdout: 'started\nstopping\n', stderr: 'warn\n' });
    expect(await e.ok(['ps'])).not.toMatch(/svc/);
    expect(await e.ok(['ps', '-a'])).toMatch(/Exited \(7\) .*svc/);
    expect(await e.mountsUnderRoot()).toEqual([]);
    await e.ok(['rm', 'svc']);
  });

  it('logs -f follows the output until the container exits', async () => {
    await e.ok(['run', '-d', '--name', 'ticker', 'busybox:test', 'sh', '-c', 'for i in 1 2 3; do echo tick $i; sleep 0.3; done']);
    const r = await e.stevedore(['logs', '-f', 'ticker']);
    expect(r).toMatchObject({ code: 0, stdout: 'tick 1\ntick 2\ntick 3\n' });
    expect(await inspect('ticker')).toMatchObject({ state: 'exited', exitCode: 0 });
    await e.ok(['rm', 'ticker']);
  });

  it('stop uses the image\'s StopSignal, and SIGKILL after -t seconds when it is ignored', async () => {
    // app:test has StopSignal SIGUSR1.
    await e.ok(['run', '-d', '--name', 'usr1', '--entrypoint', 'sh', 'app:test', '-c', `trap 'echo got usr1; exit 3' USR1; trap '' TERM; ${LOOP}`]);
    await e.waitRunning('usr1');
    await e.ok(['stop', 'usr1']);
    expect(await inspect('usr1')).toMatchObject({ state: 'exited', exitCode: 3 });
    expect(await e.ok(['logs', 'usr1'])).toBe('got usr1\n');

    await e.ok(['run', '-d', '--name', 'stubborn', 'busybox:test', 'sh', '-c', `trap '' TERM; ${LOOP}`]);
    await e.waitRunning('stubborn');
    await e.ok(['stop', '-t', '1', 'stubborn']);
    expect(await inspect('stubborn')).toMatchObject({ state: 'exited', exitCode: 137 });
    await e.ok(['rm', 'usr1', 'stubborn']);
  });

  it('run -d of a command that cannot start is an error of run (127), and the container stays listed', async () => {
    const r = await e.stevedore(['run', '-d', '--name', 'nostart', 'busybox:test', 'no-such-command']);
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/^stevedore: .*no-such-command.*not found/);
    expect(await e.ok(['ps', '-a'])).toMatch(/Exited \(127\).*nostart/);
    await e.ok(['rm', 'nostart']);
  });

  it('run -d --rm removes the container once it exits', async () => {
    const id = (await e.ok(['run', '-d', '--rm', 'busybox:test', 'sh', '-c', 'echo bye'])).trim();
    await e.waitFor('the container to be removed', async () => !(await e.containerDirs()).includes(id));
    expect(await e.mountsUnderRoot()).toEqual([]);
  });

  it('container.json holds the id and the image manifest digest (read by rmi and image prune)', async () => {
    const id = (await e.ok(['run', '-d', '--name', 'rec', 'busybox:test', 'true'])).trim();
    const record = JSON.parse(await readFile(join(e.root, 'containers', id, 'container.json'), 'utf8'));
    expect(record).toMatchObject({ id, name: 'rec', image: { manifestDigest: await e.imageDigest('busybox:test') } });
    await e.waitFor('it to exit', async () => (await inspect('rec')).state === 'exited');
    await e.ok(['rm', 'rec']);
  });
});

describe('kill, exec, rm', () => {
  it('kill -s sends a signal; kill defaults to SIGKILL', async () => {
    await e.ok(['run', '-d', '--name', 'k', 'busybox:test', 'sh', '-c', `trap 'echo hup' HUP; ${LOOP}`]);
    await e.waitRunning('k');
    await e.ok(['kill', '-s', 'HUP', 'k']);
    await e.waitFor('the trap to run', async () => (await e.ok(['logs', 'k'])) === 'hup\n');
    expect((await inspect('k')).state).toBe('running');
    await e.ok(['kill', 'k']);
    await e.waitFor('it to exit', async () => (await inspect('k')).state === 'exited');
    expect((await inspect('k')).exitCode).toBe(137);
    const r = await e.stevedore(['kill', 'k']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^stevedore: container k is not running/);
    await e.ok(['rm', 'k']);
  });

  it('exec runs in the container as its user, in its workdir, with its env, and returns the exit status', async () => {
    await e.ok(['run', '-d', '--name', 'ex', '--entrypoint', 'sh', 'app:test', '-c', `echo $$ > /tmp/init-pid; ${LOOP}`]);
    await e.waitRunning('ex');
    expect(await e.ok(['exec', 'ex', 'sh', '-c', 'id -un; pwd; echo $GREETING; cat /tmp/init-pid'])).toBe('bob\n/data\nfrom-image\n1\n');
    expect(await e.ok(['exec', '-e', 'X=1', '-w', '/tmp', '-u', '0:0', 'ex', 'sh', '-c', 'echo $X; pwd; id -u'])).toBe('1\n/tmp\n0\n');
    expect((await e.stevedore(['exec', 'ex', 'sh', '-c', 'exit 9'])).code).toBe(9);
    expect((await e.stevedore(['exec', '-i', 'ex', 'cat'], { input: 'piped\n' })).stdout).toBe('piped\n');
    await e.ok(['rm', '-f', 'ex']);
    const r = await e.stevedore(['exec', 'ex', 'true']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no such container: ex/);
  });

  it('rm refuses a running container; rm -f kills and removes it, mounts and all', async () => {
    const id = (await e.ok(['run', '-d', '--name', 'busy', 'busybox:test', 'sh', '-c', LOOP])).trim();
    await e.waitRunning('busy');
    const r = await e.stevedore(['rm', 'busy']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is running/);
    // By id prefix.
    expect(await e.ok(['rm', '-f', id.slice(0, 8)])).toBe(`${id.slice(0, 8)}\n`);
    expect(await e.containerDirs()).not.toContain(id);
    expect(await e.mountsUnderRoot()).toEqual([]);
    expect(await e.ok(['ps', '-a', '-q'])).toBe('');
  });

  it('names are unique, and names and id prefixes work everywhere', async () => {
    const id = (await e.ok(['run', '-d', '--name', 'uniq', 'busybox:test', 'sh', '-c', LOOP])).trim();
    const dup = await e.stevedore(['run', '-d', '--name', 'uniq', 'busybox:test', 'true']);
    expect(dup.code).toBe(125);
    expect(dup.stderr).toMatch(/name uniq is already in use/);
    await e.waitRunning(id.slice(0, 6));
    expect(await e.ok(['exec', id.slice(0, 10), 'echo', 'hi'])).toBe('hi\n');
    expect((await inspect(id.slice(0, 5))).id).toBe(id);
    expect(await e.ok(['ps', '--no-trunc', '-q'])).toBe(`${id}\n`);
    await e.ok(['rm', '-f', 'uniq']);
    expect((await e.stevedore(['container', 'inspect', 'uniq'])).stderr).toMatch(/no such container/);
  });

  it('container prune removes stopped containers and keeps running ones', async () => {
    await e.ok(['run', '--name', 'done1', 'busybox:test', 'true']);
    await e.stevedore(['run', '--name', 'done2', 'busybox:test', 'false']);
    const live = (await e.ok(['run', '-d', '--name', 'live', 'busybox:test', 'sh', '-c', LOOP])).trim();
    await e.waitRunning('live');
    // What a crash mid-creation leaves: a directory without a record, its rootfs still mounted.
    const orphan = join(e.root, 'containers', 'f'.repeat(64));
    await mkdir(join(orphan, 'bundle', 'rootfs'), { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', join(orphan, 'bundle', 'rootfs')]);
    const past = new Date(Date.now() - 120_000);
    await utimes(orphan, past, past);
    const removed = (await e.ok(['container', 'prune'])).trim().split('\n');
    expect(removed).toHaveLength(2);
    expect(await e.containerDirs()).toEqual([live]);
    // The orphan's mount is gone; the running container's root is mounted by its runtime, in its
    // own mount namespace, and untouched.
    expect(await e.mountsUnderRoot()).toEqual([]);
    expect(await e.ok(['exec', 'live', 'cat', '/etc/passwd'])).toMatch(/^root:/);
    await e.ok(['rm', '-f', 'live']);
  });
});

describe('engine root and concurrency', () => {
  it('--root DIR takes precedence over STEVEDORE_ROOT', async () => {
    const other = join(e.dir, 'other-root');
    await e.ok(['--root', other, 'load', '-q', '-i', e.archive]);
    // --network none: the other root's default bridge would outlive it (e.close prunes e's root only).
    const id = (await e.ok(['--root', other, 'run', '-d', '--network', 'none', 'busybox:test', 'true'])).trim();
    await e.waitFor('it to exit', async () => (await e.ok(['--root', other, 'ps', '-a'])).includes('Exited (0)'));
    expect(await e.ok(['ps', '-a', '-q'])).toBe('');
    await readFile(join(other, 'containers', id, 'container.json'), 'utf8');
    await e.ok(['--root', other, 'rm', id]);
  });

  it('of several runs asking for one name at once, exactly one gets it', async () => {
    const runs = await Promise.all([1, 2, 3, 4].map(() => e.stevedore(['run', '--name', 'contested', 'busybox:test', 'true'])));
    expect(runs.filter((r) => r.code === 0)).toHaveLength(1);
    for (const r of runs.filter((x) => x.code !== 0)) expect(r.stderr).toMatch(/name contested is already in use/);
    expect(await e.containerDirs()).toHaveLength(1);
    await e.ok(['rm', 'contested']);
  });
});

describe('foreground run', () => {
  it.each([
    ['SIGTERM', 'TERM'],
    ['SIGINT', 'INT'],
  ] as const)('forwards %s to the container and exits with its status', async (signal, trap) => {
    const run = e.spawn(['run', '--rm', '--name', 'fg', 'busybox:test', 'sh', '-c', `trap 'echo got ${trap}; exit 5' ${trap}; echo ready; ${LOOP}`]);
    const done = exitOf(run);
    await e.waitRunning('fg');
    run.kill(signal);
    const r = await done;
    expect(r).toMatchObject({ code: 5, stdout: `ready\ngot ${trap}\n` });
    expect(await e.containerDirs()).toEqual([]);
  });

  it('a run whose stevedore process was killed: the container is still listed and rm -f cleans it all up', async () => {
    const run = e.spawn(['run', '--name', 'orphan', 'busybox:test', 'sh', '-c', LOOP]);
    // 'exit', not 'close': runc, still running, holds the output pipes open.
    const killed = new Promise((resolve) => run.once('exit', resolve));
    await e.waitRunning('orphan');
    run.kill('SIGKILL');
    await killed;
    expect(await e.ok(['ps'])).toMatch(/orphan/); // runc still runs it
    await e.ok(['rm', '-f', 'orphan']);
    expect(await e.containerDirs()).toEqual([]);
    expect(await e.mountsUnderRoot()).toEqual([]);
  });
});
