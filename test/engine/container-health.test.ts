// Health checks and labels of containers, as a user sees them in `ps` and `inspect`: the detached
// container's monitor probes it with `runc exec` at the interval; the status goes starting →
// healthy → unhealthy as the file the check reads appears and goes. Real runc, as root.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { engineEnv, type EngineEnv } from '../helpers/engine-cli.js';

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

const LOOP = 'while true; do sleep 0.1; done';

interface Health {
  Status: string;
  FailingStreak: number;
  Log: { ExitCode: number; Output: string }[];
}

async function inspect(ref: string): Promise<{ health?: Health; healthcheck?: unknown; labels?: Record<string, string>; State: { Status: string; Health?: Health } }> {
  const [c] = JSON.parse(await e.ok(['container', 'inspect', ref]));
  // docker's place for it: State.Health; nowhere else.
  expect(c).not.toHaveProperty('health');
  return { ...c, health: c.State.Health };
}

async function psStatus(name: string): Promise<string> {
  return (await e.ok(['ps', '--filter', `name=${name}`, '--format', '{{.Status}}'])).trim();
}

describe('health checks', () => {
  it('goes from starting to healthy to unhealthy as the checked file appears and goes, in ps and inspect', async () => {
    // The long start period keeps failures from counting until the first success: "starting".
    await e.ok(['run', '-d', '--name', 'web', '--health-cmd', 'cat /tmp/ok', '--health-interval', '200ms', '--health-retries', '2', '--health-start-period', '1h', 'busybox:test', 'sh', '-c', LOOP]);
    await e.waitRunning('web');
    const first = await e.waitFor('a failed probe', async () => {
      const h = (await inspect('web')).health;
      return h && h.Log.length > 0 && h;
    });
    expect(first).toMatchObject({ Status: 'starting', FailingStreak: 0 });
    expect(first.Log[0]!.ExitCode).toBe(1);
    expect(first.Log[0]!.Output).toMatch(/can't open '\/tmp\/ok'/);
    expect(await psStatus('web')).toMatch(/^Up .* \(health: starting\)$/);

    await e.ok(['exec', 'web', 'sh', '-c', 'echo fine > /tmp/ok']);
    // What compose's service_healthy waits on.
    expect(await e.ok(['wait', '--condition', 'healthy', '--timeout', '60s', 'web'])).toBe('web\n');
    await e.waitFor('ps to show healthy', async () => / \(healthy\)$/.test(await psStatus('web')));
    // docker's habit for scripts.
    expect(await e.ok(['container', 'inspect', '--format', '{{.State.Status}} {{.State.Health.Status}}', 'web'])).toBe('running healthy\n');
    const healthy = (await inspect('web')).health!;
    expect(healthy).toMatchObject({ Status: 'healthy', FailingStreak: 0 });
    expect(healthy.Log.at(-1)).toMatchObject({ ExitCode: 0, Output: 'fine\n' });
    expect(healthy.Log.length).toBeLessThanOrEqual(5);
    expect((await e.ok(['ps', '--filter', 'health=healthy', '--format', '{{.Names}}'])).trim()).toBe('web');

    await e.ok(['exec', 'web', 'rm', '/tmp/ok']);
    await e.waitFor('ps to show unhealthy', async () => / \(unhealthy\)$/.test(await psStatus('web')));
    const unhealthy = (await inspect('web')).health!;
    expect(unhealthy.Status).toBe('unhealthy');
    expect(unhealthy.FailingStreak).toBeGreaterThanOrEqual(2);
    expect(unhealthy.Log.at(-1)!.ExitCode).toBe(1);
    expect((await e.ok(['ps', '--filter', 'health=unhealthy', '-q'])).trim()).not.toBe('');

    // Stopped: no probe left behind, no health in the status.
    await e.ok(['stop', '-t', '1', 'web']);
    expect(await psStatus('web')).toBe('');
    expect((await e.ok(['ps', '-a', '--filter', 'name=web', '--format', '{{.Status}}'])).trim()).toMatch(/^Exited/);
  });

  it('probes a container run in the foreground too: another terminal sees it become healthy', async () => {
    const fg = e.spawn(['run', '--name', 'fg', '--health-cmd', 'true', '--health-interval', '200ms', 'busybox:test', 'sh', '-c', 'sleep 30']);
    const ended = new Promise<void>((resolve) => fg.once('exit', () => resolve()));
    await e.waitRunning('fg');
    expect(await e.ok(['wait', '--condition', 'healthy', '--timeout', '60s', 'fg'])).toBe('fg\n');
    expect(await psStatus('fg')).toMatch(/^Up .* \(healthy\)$/);
    await e.ok(['kill', 'fg']);
    await ended;
    await e.ok(['rm', 'fg']);
  });

  it('takes the image\'s HEALTHCHECK (here made by commit --change), which the flags override', async () => {
    await e.ok(['create', '--name', 'base', 'busybox:test', 'true']);
    await e.ok(['commit', '--change', 'HEALTHCHECK --interval=200ms --retries=1 CMD ["cat", "/etc/passwd"]', 'base', 'checked:1']);
    await e.ok(['run', '-d', '--name', 'img', 'checked:1', 'sh', '-c', LOOP]);
    expect((await inspect('img')).healthcheck).toEqual({ test: ['CMD', 'cat', '/etc/passwd'], intervalMs: 200, timeoutMs: 30_000, startPeriodMs: 0, retries: 1 });
    await e.waitFor('the image\'s check to pass', async () => / \(healthy\)$/.test(await psStatus('img')));
    // --health-cmd replaces the image's command and keeps its other settings.
    await e.ok(['run', '-d', '--name', 'over', '--health-cmd', 'exit 3', 'checked:1', 'sh', '-c', LOOP]);
    await e.waitFor('the flag\'s check to fail', async () => / \(unhealthy\)$/.test(await psStatus('over')));
    expect((await inspect('over')).health!.Log.at(-1)!.ExitCode).toBe(3);
  });

  it('a probe that outlives --health-timeout fails; --no-healthcheck has none; bad flags are one line', async () => {
    await e.ok(['run', '-d', '--name', 'slow', '--health-cmd', 'sleep 30', '--health-interval', '200ms', '--health-timeout', '300ms', '--health-retries', '1', 'busybox:test', 'sh', '-c', LOOP]);
    const h = await e.waitFor('the slow probe to fail', async () => {
      const cur = (await inspect('slow')).health;
      return cur?.Status === 'unhealthy' && cur;
    });
    expect(h.Log.at(-1)).toMatchObject({ ExitCode: -1, Output: expect.stringMatching(/exceeded timeout/) });

    await e.ok(['run', '-d', '--name', 'plain', '--no-healthcheck', 'busybox:test', 'sh', '-c', LOOP]);
    await e.waitRunning('plain');
    expect((await inspect('plain')).State).not.toHaveProperty('Health');
    expect(await psStatus('plain')).toMatch(/^Up [^(]*$/);
    const waited = await e.stevedore(['wait', '--condition', 'healthy', 'plain']);
    expect(waited).toMatchObject({ code: 1, stderr: 'stevedore: container plain has no health check\n' });

    const bad = await e.stevedore(['run', '-d', '--health-cmd', 'true', '--health-interval', '10', 'busybox:test', 'true']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toBe('stevedore: invalid --health-interval "10": a duration like 30s, 1m30s or 500ms\n');
  });
});

describe('labels', () => {
  it('run/create --label are recorded, shown in inspect and filtered by ps', async () => {
    await e.ok(['run', '-d', '--name', 'front', '--label', 'tier=web', '--label', 'team', 'busybox:test', 'sh', '-c', LOOP]);
    await e.ok(['create', '--name', 'back', '-l', 'tier=db', 'busybox:test', 'true']);
    expect((await inspect('front')).labels).toEqual({ tier: 'web', team: '' });
    expect((await inspect('back')).labels).toEqual({ tier: 'db' });
    const names = async (...f: string[]) => (await e.ok(['ps', '-a', ...f.flatMap((x) => ['--filter', x]), '--format', '{{.Names}}'])).trim().split('\n').filter(Boolean).sort();
    expect(await names('label=tier')).toEqual(['back', 'front']);
    expect(await names('label=tier=db')).toEqual(['back']);
    expect(await names('label=team')).toEqual(['front']);
    expect(await names('label=tier=cache')).toEqual([]);
    expect(await e.ok(['ps', '--filter', 'name=front', '--format', '{{.Labels}}'])).toBe('tier=web,team=\n');
  });
});
