import { describe, expect, it } from 'vitest';
import { bodyBytesReceived, BODY_BYTES_PER_SCAVENGE, exposeGc, pacingBodyGarbage } from './body-garbage.js';

describe('body garbage pacing', () => {
  it('works in a process started without --expose-gc once exposeGc() ran (serve as a single process)', () => {
    exposeGc();
    exposeGc(); // once per process: a second call changes nothing
    expect(pacingBodyGarbage()).toBe(true);
    // A collection is due: it runs (and throws nothing) with the function it got.
    expect(() => bodyBytesReceived(BODY_BYTES_PER_SCAVENGE)).not.toThrow();
  });
});
