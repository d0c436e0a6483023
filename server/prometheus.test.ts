import * as promClient from 'prom-client';
import { describe, expect, it } from 'vitest';
import { collectDefaultMetrics, Registry } from './prometheus.js';

/** `# HELP` and `# TYPE` lines: the names, help texts and types of an exposition. */
const declarations = (text: string) => text.split('\n').filter((l) => l.startsWith('# HELP') || l.startsWith('# TYPE'));

function value(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`no ${name} in the exposition`);
  return Number(line.slice(name.length + 1));
}

describe('collectDefaultMetrics (without @opentelemetry/api)', () => {
  it("declares the same metrics, in the same order, as prom-client's own", async () => {
    const ours = new Registry();
    collectDefaultMetrics({ register: ours });
    const theirs = new promClient.Registry();
    promClient.collectDefaultMetrics({ register: theirs });
    const expected = declarations(await theirs.metrics());
    expect(expected.length).toBeGreaterThan(40);
    expect(declarations(await ours.metrics())).toEqual(expected);
  });

  it('counts CPU time from its registration, user + system in process_cpu_seconds_total', async () => {
    const register = new Registry();
    const before = process.cpuUsage();
    collectDefaultMetrics({ register });
    const first = await register.metrics();
    let x = 0;
    for (let i = 0; i < 2e7; i++) x += Math.sqrt(i);
    expect(x).toBeGreaterThan(0);
    const text = await register.metrics();
    const spent = process.cpuUsage(before);
    const user = value(text, 'process_cpu_user_seconds_total');
    const system = value(text, 'process_cpu_system_seconds_total');
    expect(user).toBeGreaterThan(value(first, 'process_cpu_user_seconds_total'));
    expect(user).toBeLessThanOrEqual(spent.user / 1e6 + 1e-6);
    expect(system).toBeLessThanOrEqual(spent.system / 1e6 + 1e-6);
    expect(value(text, 'process_cpu_seconds_total')).toBeCloseTo(user + system, 6);
  });
});
