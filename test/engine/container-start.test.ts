// The container lifecycle after `run`, as a docker user checks it: create then start, a stopped
// container started again with its changes, restart, logs of a foreground container with stdout
// and stderr apart (--tail, -t, --since), --restart on-failure:3, pause/unpause, wait, rename.
// Real runc and overlayfs, as root.
import { execFile } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { engineEnv, type EngineEnv } from '../helpers/engine-cli.js';
import { CLI } from '../helpers/stevedore-process.js';

let e: EngineEnv;

beforeAll(async () => {
  e = await engineEnv();
});

afterEach(async () => {
  await e?.reset();
});

afterAll(async () => {
  await e?.close();
});

interface Inspect {
  id: string;
  name: string;
  state: string;
  exitCode?: number | null;
  pid?: number;
  paused: boolean;
  restartCount: number;
  State: { Status: string; Running: boolean; Paused: boolean; Restarting: boolean; ExitCode: number; Pid: number; StartedAt: string; FinishedAt: string };
}
const inspect = async (ref: string) => (JSON.parse(await e.ok(['container', 'inspect', ref])) as Inspect[])[0]!;

describe('create, start, restart', () => {
  it('create makes a container that ps -a shows as Created; start -a runs it; started again it keeps its changes', async () => {
    const id = (await e.ok(['create', '--name', 'counter', 'busybox:test', 'sh', '-c', 'echo run >> /runs; wc -l < /runs'])).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(await e.ok(['ps', '-a'])).toMatch(/Created\s+counter$/m);
    expect(await e.ok(['start', '-a', 'counter'])).toBe('1\n');
    expect(await inspect('counter')).toMatchObject({ state: 'exited', exitCode: 0 });
    expect(await e.ok(['start', '-a', 'counter'])).toBe('2\n');
    // start without -a: in the background; wait gives the exit status.
    expect(await e.ok(['start', 'counter'])).toBe('counter\n');
    expect(await e.ok(['wait', 'counter'])).toBe('0\n');
    expect(await e.ok(['logs', 'counter'])).toBe('1\n2\n3\n');
    // Its rootfs is not left mounted between runs.
    expect(await e.mountsUnderRoot()).toEqual([]);
  });

  it('restart of a running container: a new process, its files kept', async () => {
    await e.ok(['run', '-d', '--name', 'svc', 'busybox:test', 'sh', '-c', 'echo up >> /state; trap "exit 0" TERM; while true; do sleep 0.1; done']);
    const pid1 = await e.waitRunning('svc');
    expect(await e.ok(['restart', '-t', '5', 'svc'])).toBe('svc\n');
    const pid2 = await e.waitRunning('svc');
    expect(pid2).not.toBe(pid1);
    expect(await e.ok(['exec', 'svc', 'cat', '/state'])).toBe('up\nup\n');
    await e.ok(['stop', 'svc']);
    expect(await e.ok(['wait', 'svc'])).toBe('0\n');
  });
});

describe('logs', () => {
  it('of a foreground container: stdout and stderr apart, --tail, -t, --since', async () => {
    const r = await e.stevedore(['run', '--name', 'fg', 'busybox:test', 'sh', '-c', 'echo out1; echo err1 >&2; echo out2']);
    expect(r).toMatchObject({ code: 0, stdout: 'out1\nout2\n', stderr: 'err1\n' });
    const logs = await e.stevedore(['logs', 'fg']);
    expect(logs).toMatchObject({ code: 0, stdout: 'out1\nout2\n', stderr: 'err1\n' });
    // The last line written (which of the two pipes was read first is the kernel's choice).
    const tail = await e.stevedore(['logs', '--tail', '1', 'fg']);
    expect([tail.stdout, tail.stderr].sort()).toEqual(['', expect.stringMatching(/^(out2|err1)\n$/)].sort());
    const stamped = await e.stevedore(['logs', '-t', 'fg']);
    expect(stamped.stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z out1\n\S+ out2\n$/);
    expect((await e.stevedore(['logs', '--since', '1h', 'fg'])).stdout).toBe('out1\nout2\n');
    expect((await e.stevedore(['logs', '--until', '1h', 'fg'])).stdout).toBe('');
    const bad = await e.stevedore(['logs', '--since', 'yesterday', 'fg']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/^stevedore: --since: invalid time "yesterday"/);
  });
});

describe('restart policies', () => {
  it('on-failure:3 restarts three times then stops; inspect and ps show it', async () => {
    await e.ok(['run', '-d', '--name', 'flaky', '--restart', 'on-failure:3', 'busybox:test', 'sh', '-c', 'echo try; exit 3']);
    expect(await e.ok(['wait', 'flaky'])).toBe('3\n');
    expect(await inspect('flaky')).toMatchObject({ state: 'exited', exitCode: 3, restartCount: 3 });
    expect(await e.ok(['ps', '-a', '--filter', 'name=flaky', '--format', '{{.Status}} {{.RestartCount}}'])).toMatch(/^Exited \(3\) .* ago 3\n$/);
    expect(await e.ok(['container', 'inspect', '-f', '{{.RestartCount}} {{.State.ExitCode}}', 'flaky'])).toBe('3 3\n');
    expect(await e.ok(['logs', 'flaky'])).toBe('try\ntry\ntry\ntry\n');
  });

  it('in the foreground, like docker run: the first exit\'s output and status, then restarted in the background', async () => {
    const r = await e.stevedore(['run', '--name', 'fgflaky', '--restart', 'on-failure:3', 'busybox:test', 'sh', '-c', 'echo try; exit 3']);
    expect(r).toMatchObject({ code: 3, stdout: 'try\n', stderr: '' });
    const waited = await e.ok(['wait', 'fgflaky']);
    expect(waited, JSON.stringify(await inspect('fgflaky'))).toBe('3\n');
    expect(await inspect('fgflaky')).toMatchObject({ state: 'exited', exitCode: 3, restartCount: 3, State: { Status: 'exited', Running: false, Restarting: false, ExitCode: 3, Pid: 0 } });
    expect(await e.ok(['logs', 'fgflaky'])).toBe('try\ntry\ntry\ntry\n');
    expect(await e.mountsUnderRoot()).toEqual([]);

    // always: it runs on after `run` returned, until it is stopped.
    const a = await e.stevedore(['run', '--name', 'fgalways', '--restart', 'always', 'busybox:test', 'sh', '-c', 'echo up >> /runs; exit 1']);
    expect(a.code).toBe(1);
    await e.waitFor('two restarts', async () => (await inspect('fgalways')).restartCount >= 2);
    expect(await e.ok(['ps', '--filter', 'name=fgalways', '--format', '{{.Status}}'])).toMatch(/^(Up|Restarting \(1\)) /);
    await e.ok(['stop', '-t', '1', 'fgalways']);
    const stopped = await inspect('fgalways');
    expect(stopped.state).toBe('exited');
    const count = stopped.restartCount;
    // Stopped by hand: no monitor starts it again.
    await new Promise((res) => setTimeout(res, 1000));
    expect(await inspect('fgalways')).toMatchObject({ state: 'exited', restartCount: count });
    expect(await e.ok(['ps', '-q'])).toBe('');
  });

  it('always: stop ends it for good; start --all-restartable brings it back', async () => {
    await e.ok(['run', '-d', '--name', 'always', '--restart', 'always', 'busybox:test', 'sh', '-c', 'sleep 0.2; exit 1']);
    await e.waitFor('a restart', async () => (await inspect('always')).restartCount >= 1);
    await e.ok(['stop', '-t', '1', 'always']);
    expect((await inspect('always')).state).toBe('exited');
    expect(await e.ok(['start', '--all-restartable'])).toBe('always\n');
    await e.waitFor('it to run or restart', async () => (await inspect('always')).state === 'running');
    await e.ok(['stop', '-t', '1', 'always']);
  });
});

describe('pause, unpause, rename', () => {
  it('a paused container shows as paused and runs on after unpause; rename keeps it', async () => {
    await e.ok(['run', '-d', '--name', 'p', 'busybox:test', 'sh', '-c', 'while true; do sleep 0.1; done']);
    await e.waitRunning('p');
    expect(await e.ok(['pause', 'p'])).toBe('p\n');
    expect(await inspect('p')).toMatchObject({ paused: true, state: 'running', State: { Status: 'paused', Running: true, Paused: true } });
    expect((await inspect('p')).State.Pid).toBeGreaterThan(0);
    expect(await e.ok(['ps'])).toMatch(/Up .*\(Paused\)\s+p$/m);
    const again = await e.stevedore(['pause', 'p']);
    expect(again.stderr).toBe('stevedore: container p is already paused\n');
    expect(await e.ok(['unpause', 'p'])).toBe('p\n');
    expect((await inspect('p')).paused).toBe(false);
    await e.ok(['rename', 'p', 'q']);
    expect((await inspect('q')).state).toBe('running');
    const gone = await e.stevedore(['container', 'inspect', 'p']);
    expect(gone.code).not.toBe(0);
    // A paused container still stops.
    await e.ok(['pause', 'q']);
    await e.ok(['stop', '-t', '1', 'q']);
    expect((await inspect('q')).state).toBe('exited');
  });
});

describe('exec errors and users', () => {
  it('a missing command exits 127 with one line; -u NAME resolves like run; a missing container says so', async () => {
    await e.ok(['run', '-d', '--name', 'x', 'busybox:test', 'sh', '-c', 'while true; do sleep 0.1; done']);
    await e.waitRunning('x');
    const missing = await e.stevedore(['exec', 'x', 'no-such-command']);
    expect(missing.code).toBe(127);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/^stevedore: .*no-such-command.*(executable file not found|no such file)/);
    expect(await e.ok(['exec', '-u', 'alice', 'x', 'id'])).toBe('uid=1000(alice) gid=1000(alice) groups=10(wheel),29(audio)\n');
    expect(await e.ok(['exec', '-u', 'bob:staff', 'x', 'id'])).toBe('uid=1001(bob) gid=50(staff)\n');
    const unknown = await e.stevedore(['exec', '-u', 'carol', 'x', 'id']);
    expect(unknown.code).toBe(126);
    expect(unknown.stderr).toMatch(/^stevedore: unable to find user carol/);
    const gone = await e.stevedore(['exec', 'nosuch', 'true']);
    expect(gone.stderr).toBe('stevedore: no such container: nosuch\n');
    await e.ok(['rm', '-f', 'x']);
  });
});

describe('one-line errors', () => {
  it('a container name that does not exist says so (no registry asked), for every container command', async () => {
    const commands = [['logs'], ['start'], ['stop'], ['restart'], ['rm'], ['kill'], ['wait'], ['attach'], ['top'], ['stats', '--no-stream'], ['pause'], ['unpause'], ['export'], ['commit'], ['rename', 'nosuch', 'other'], ['container', 'inspect'], ['exec', 'nosuch', 'true']];
    for (const c of commands) {
      const args = c.includes('nosuch') ? c : [...c, 'nosuch'];
      const r = await e.stevedore(args);
      expect([args.join(' '), r.code, r.stderr]).toEqual([args.join(' '), c[0] === 'exec' ? 125 : 1, 'stevedore: no such container: nosuch\n']);
    }
    const cp = await e.stevedore(['cp', 'nosuch:/etc/passwd', e.dir]);
    expect(cp).toMatchObject({ code: 1, stderr: 'stevedore: no such container: nosuch\n' });
  });

  it('run and create as a user other than root: one line saying it needs root, 125', async () => {
    for (const cmd of [['run', '--rm', 'busybox:test', 'true'], ['run', '-d', 'busybox:test', 'true'], ['create', 'busybox:test']]) {
      const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(process.execPath, [CLI, ...cmd], { env: e.env, uid: 65534, gid: 65534 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })),
      );
      expect(r).toMatchObject({ code: 125, stdout: '', stderr: `stevedore: ${cmd[0]} needs root (containers are made with mounts, namespaces and cgroups): run it with sudo\n` });
    }
    expect(await e.containerDirs()).toEqual([]);
  });
});

describe('cp and export', () => {
  it('cp in and out keeps owners, modes and symlinks; works on a stopped container; never writes outside its root', async () => {
    const { mkdir, writeFile, chmod, chown, symlink, readFile, lstat, readlink, stat } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const src = join(e.dir, 'cp-src');
    await mkdir(join(src, 'sub'), { recursive: true });
    await writeFile(join(src, 'sub', 'secret.txt'), 'owned\n');
    await chown(join(src, 'sub', 'secret.txt'), 1234, 5678);
    await chmod(join(src, 'sub', 'secret.txt'), 0o640);
    await symlink('sub/secret.txt', join(src, 'link'));
    await e.ok(['run', '-d', '--name', 'files', 'busybox:test', 'sh', '-c', 'ln -s / /esc; while true; do sleep 0.1; done']);
    await e.waitRunning('files');
    await e.ok(['cp', src, 'files:/tmp/']);
    expect(await e.ok(['exec', 'files', 'sh', '-c', 'stat -c "%u:%g %a" /tmp/cp-src/sub/secret.txt; readlink /tmp/cp-src/link; cat /tmp/cp-src/link'])).toBe('1234:5678 640\nsub/secret.txt\nowned\n');
    // Renamed on the way in when the destination does not exist.
    await e.ok(['cp', join(src, 'sub', 'secret.txt'), 'files:/root/renamed.txt']);
    expect(await e.ok(['exec', 'files', 'cat', '/root/renamed.txt'])).toBe('owned\n');
    // A container's symlink to / is followed inside its root, not the host's.
    await e.ok(['cp', join(src, 'sub', 'secret.txt'), 'files:/esc/escaped-by-cp.txt']);
    expect(await e.ok(['exec', 'files', 'cat', '/escaped-by-cp.txt'])).toBe('owned\n');
    await expect(stat('/escaped-by-cp.txt')).rejects.toThrow();

    await e.ok(['stop', '-t', '1', 'files']);
    const out = join(e.dir, 'cp-out');
    await mkdir(out);
    await e.ok(['cp', 'files:/tmp/cp-src', out]);
    const copied = await lstat(join(out, 'cp-src', 'sub', 'secret.txt'));
    expect([copied.uid, copied.gid, copied.mode & 0o777]).toEqual([1234, 5678, 0o640]);
    expect(await readlink(join(out, 'cp-src', 'link'))).toBe('sub/secret.txt');
    await e.ok(['cp', 'files:/data/hello.txt', join(out, 'hello-copy.txt')]);
    expect(await readFile(join(out, 'hello-copy.txt'), 'utf8')).toBe('hello from the image\n');
    const missing = await e.stevedore(['cp', 'files:/nope', out]);
    expect(missing).toMatchObject({ code: 1, stderr: 'stevedore: no such file or directory in container files: /nope\n' });
    expect(await e.mountsUnderRoot()).toEqual([]);

    // export: the merged rootfs (image content and the container's changes) as a tar.
    const tarFile = join(e.dir, 'files.tar');
    await e.ok(['export', '-o', tarFile, 'files']);
    const { execFileSync } = await import('node:child_process');
    const list = execFileSync('tar', ['-tf', tarFile], { encoding: 'utf8' }).split('\n');
    expect(list).toEqual(expect.arrayContaining(['./data/hello.txt', './root/renamed.txt', './tmp/cp-src/sub/secret.txt', './bin/busybox']));
    await e.ok(['rm', 'files']);
  });
});

describe('stats and top', () => {
  it('stats --no-stream shows the memory of a process holding 50 MB, stats a live view until it stops; top lists its processes', async () => {
    // 50 MB held in a tmpfs-free way: a shell variable of 50 MB stays in the shell's memory.
    await e.ok(['run', '-d', '--name', 'hog', 'busybox:test', 'sh', '-c', 'x=$(head -c 52428800 /dev/zero | tr "\\0" a); echo ready; while true; do sleep 0.1; done']);
    await e.waitFor('the 50 MB to be held', async () => (await e.stevedore(['logs', 'hog'])).stdout === 'ready\n');
    const [s] = JSON.parse(await e.ok(['stats', '--no-stream', '--json', 'hog'])) as { name: string; memoryUsage: number; pids: number; cpuPercent: number }[];
    expect(s!.name).toBe('hog');
    expect(s!.memoryUsage).toBeGreaterThan(50 * 1024 * 1024);
    expect(s!.memoryUsage).toBeLessThan(400 * 1024 * 1024);
    expect(s!.pids).toBeGreaterThanOrEqual(1);
    const table = await e.ok(['stats', '--no-stream', 'hog']);
    expect(table).toMatch(/^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+BLOCK I\/O\s+PIDS\n[0-9a-f]{12}\s+hog\s+\d+\.\d\d%\s+\d+(\.\d)? MB \/ /);
    const top = await e.ok(['top', 'hog']);
    expect(top).toMatch(/^UID\s+PID\s+PPID.*CMD\n/);
    expect(top).toMatch(/sh -c x=/);
    // Without --no-stream: a live view, one sample after another, that ends when the container
    // named on the command line stops.
    const live = e.spawn(['stats', '--json', 'hog']);
    let out = '';
    live.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const ended = new Promise<number | null>((resolve) => live.once('exit', (code) => resolve(code)));
    await e.waitFor('two samples', async () => out.split('\n').filter(Boolean).length >= 2);
    for (const line of out.split('\n').filter(Boolean)) expect((JSON.parse(line) as { name: string }[])[0]!.name).toBe('hog');
    await e.ok(['stop', '-t', '1', 'hog']);
    expect(await ended).toBe(0);
    await e.ok(['rm', '-f', 'hog']);
  });
});

describe('ps', () => {
  it('--format, --filter status/name/ancestor, --json, -n, -l, -s', async () => {
    await e.ok(['run', '--name', 'done1', 'busybox:test', 'sh', '-c', 'echo x > /f']);
    await e.ok(['run', '-d', '--name', 'live1', 'busybox:test', 'sh', '-c', 'while true; do sleep 0.1; done']);
    await e.waitRunning('live1');
    expect(await e.ok(['ps', '--format', '{{.Names}} {{.State}}'])).toBe('live1 running\n');
    expect(await e.ok(['ps', '--filter', 'status=exited', '--format', '{{.Names}}'])).toBe('done1\n');
    expect(await e.ok(['ps', '-a', '--filter', 'name=live', '--format', '{{.Names}}'])).toBe('live1\n');
    expect(await e.ok(['ps', '-a', '--filter', 'ancestor=busybox:test', '-q'])).toMatch(/^[0-9a-f]{12}\n[0-9a-f]{12}\n$/);
    expect(await e.ok(['ps', '-a', '--filter', 'ancestor=app:test', '-q'])).toBe('');
    expect(await e.ok(['ps', '-l', '--format', '{{.Names}}'])).toBe('live1\n');
    expect(await e.ok(['ps', '-n', '2', '--format', '{{.Names}}'])).toBe('live1\ndone1\n');
    const json = (await e.ok(['ps', '-a', '--json'])).trim().split('\n').map((l) => JSON.parse(l) as { Names: string; State: string });
    expect(json.map((j) => [j.Names, j.State])).toEqual([['live1', 'running'], ['done1', 'exited']]);
    expect(await e.ok(['ps', '-a', '-s', '--filter', 'name=done1', '--format', '{{.Size}}'])).toMatch(/^\d+ B\n$/);
    const bad = await e.stevedore(['ps', '--filter', 'status=sleeping']);
    expect(bad.stderr).toMatch(/^stevedore: invalid --filter status=sleeping/);
    await e.ok(['rm', '-f', 'done1', 'live1']);
  });
});
