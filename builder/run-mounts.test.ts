import { describe, expect, it } from 'vitest';
import { parseMount } from './run-mounts.js';

describe('parseMount', () => {
  it('reads cache, bind and secret mounts with BuildKit defaults', () => {
    expect(parseMount('type=cache,target=/root/.cache', '/')).toEqual({ type: 'cache', target: '/root/.cache', readOnly: false });
    expect(parseMount('target=src,from=build,source=/out', '/app')).toEqual({ type: 'bind', target: '/app/src', from: 'build', source: '/out', readOnly: true });
    expect(parseMount('type=bind,target=/x,rw', '/').readOnly).toBe(false);
    expect(parseMount('type=secret,id=tok', '/')).toEqual({ type: 'secret', target: '/run/secrets/tok', id: 'tok', readOnly: true });
    expect(parseMount('type=secret,target=/etc/key,required=true', '/')).toMatchObject({ id: 'key', required: true });
  });
  it('refuses unknown types and missing targets', () => {
    expect(() => parseMount('type=ssh', '/')).toThrow(/not supported/);
    expect(() => parseMount('type=cache', '/')).toThrow(/target is required/);
  });
});
