import { describe, expect, it } from 'vitest';
import { makeProgress, orderedLanes } from './progress.js';

function plain() {
  let text = '';
  return { progress: makeProgress('plain', (t) => (text += t)), text: () => text };
}

describe('orderedLanes', () => {
  it('writes a later lane only after the lanes before it finish, numbered in lane order, with its own times', () => {
    const out = plain();
    const lanes = orderedLanes(out.progress);
    const a = lanes.lane();
    const b = lanes.lane();
    const t0 = performance.now();
    // b runs first and finishes while a is still busy.
    const vb = b.vertex('[b 1/1] RUN b', t0);
    vb.output('from b', t0 + 250);
    vb.done(t0 + 2000);
    b.finish();
    expect(out.text()).toBe('');
    const va = a.vertex('[a 1/1] RUN a', t0 + 10);
    expect(out.text()).toBe('#1 [a 1/1] RUN a\n');
    va.cached();
    a.finish();
    expect(out.text()).toBe('#1 [a 1/1] RUN a\n#1 CACHED\n\n#2 [b 1/1] RUN b\n#2 0.250 from b\n#2 DONE 2.0s\n\n');
  });

  it('flushAll writes what is held in lane order, and later events at once', () => {
    const out = plain();
    const lanes = orderedLanes(out.progress);
    const a = lanes.lane();
    const b = lanes.lane();
    const c = lanes.lane();
    c.vertex('[c] RUN c').error('exit 1');
    b.vertex('[b] RUN b');
    a.vertex('[a] RUN a');
    lanes.flushAll();
    b.note('late');
    expect(out.text()).toBe('#1 [a] RUN a\n#2 [b] RUN b\n#3 [c] RUN c\n#3 ERROR: exit 1\n\nlate\n');
  });

  it('a progress that shows concurrent steps gets every event at once', () => {
    const events: string[] = [];
    const lanes = orderedLanes({ concurrent: true, vertex: (n) => (events.push(n), { output: () => {}, cached: () => {}, done: () => events.push(`done ${n}`), error: () => {} }), note: () => {} });
    const a = lanes.lane();
    const b = lanes.lane();
    b.vertex('b').done();
    a.vertex('a');
    expect(events).toEqual(['b', 'done b', 'a']);
  });
});
