import { describe, expect, it } from 'vitest';
import { applyChanges } from './commit-image.js';

describe('applyChanges (commit/import --change)', () => {
  it('applies metadata instructions as a Dockerfile would, on a copy', () => {
    const base = { Env: ['PATH=/bin', 'A=1'], Cmd: ['sh'] };
    const out = applyChanges(base, ['ENV A=2 B=$A', 'CMD ["echo", "hi"]', 'EXPOSE 80', 'LABEL k=v', 'WORKDIR /srv', 'USER 1000']);
    expect(out).toMatchObject({ Env: ['PATH=/bin', 'A=2', 'B=1'], Cmd: ['echo', 'hi'], ExposedPorts: { '80/tcp': {} }, Labels: { k: 'v' }, WorkingDir: '/srv', User: '1000' });
    expect(base).toEqual({ Env: ['PATH=/bin', 'A=1'], Cmd: ['sh'] });
  });
  it('refuses instructions that are not metadata', () => {
    expect(() => applyChanges({}, ['RUN echo'])).toThrow(/RUN cannot be changed/);
    expect(() => applyChanges({}, ['FROM x'])).toThrow(/FROM cannot be changed/);
  });
});
