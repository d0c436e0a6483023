import { describe, expect, it } from 'vitest';
import { parseMountFlag, parseTmpfsFlag, parseVolumeFlag, parseVolumesFrom } from './mount-options.js';

describe('-v', () => {
  it.each([
    ['/data', { type: 'volume', destination: '/data', readOnly: false, noCopy: false }],
    ['db:/var/lib/db', { type: 'volume', name: 'db', destination: '/var/lib/db', readOnly: false, noCopy: false }],
    ['db:/x/:ro,nocopy', { type: 'volume', name: 'db', destination: '/x', readOnly: true, noCopy: true }],
    ['/srv:/srv:ro,z', { type: 'bind', source: '/srv', destination: '/srv', readOnly: true, create: true }],
    ['./here:/w:rw', { type: 'bind', source: '/home/u/here', destination: '/w', readOnly: false, create: true }],
  ])('%s', (spec, expected) => {
    expect(parseVolumeFlag(spec, '/home/u')).toEqual(expected);
  });
  it.each([
    ['db:rel', /container path must be absolute/],
    ['db:/', /cannot mount over \//],
    ['db:/x:rx', /unknown option "rx"/],
    ['a:b:c:d', /invalid -v/],
    ['my vol:/x', /neither a host path/],
  ])('%s is refused', (spec, message) => {
    expect(() => parseVolumeFlag(spec)).toThrow(message);
  });
});

describe('--mount', () => {
  it('bind, volume (anonymous without source), tmpfs with size and mode', () => {
    expect(parseMountFlag('type=bind,source=/a,target=/b,readonly')).toEqual({ type: 'bind', source: '/a', destination: '/b', readOnly: true, create: false });
    expect(parseMountFlag('type=volume,src=v,dst=/v,volume-nocopy=true,volume-label=a=b')).toEqual({ type: 'volume', name: 'v', destination: '/v', readOnly: false, noCopy: true, labels: { a: 'b' } });
    expect(parseMountFlag('target=/anon')).toEqual({ type: 'volume', destination: '/anon', readOnly: false, noCopy: false });
    expect(parseMountFlag('type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1777')).toEqual({ type: 'tmpfs', destination: '/t', options: ['size=64m', 'mode=1777'] });
  });
  it('volume-opt: the local driver\'s options, a quoted o= with commas', () => {
    expect(parseMountFlag('type=volume,src=tv,dst=/t,volume-opt=type=tmpfs,volume-opt=device=tmpfs,"volume-opt=o=size=64m,mode=1777"')).toEqual({
      type: 'volume',
      name: 'tv',
      destination: '/t',
      readOnly: false,
      noCopy: false,
      options: { type: 'tmpfs', device: 'tmpfs', o: 'size=64m,mode=1777' },
    });
    expect(() => parseMountFlag('type=volume,src=tv,dst=/t,volume-opt=type=tmpfs')).toThrow(/^invalid --mount .*missing required option: "device"$/);
    expect(() => parseMountFlag('type=volume,src=tv,dst=/t,volume-opt=color=red')).toThrow(/invalid option: "color"/);
    expect(() => parseMountFlag('type=bind,src=/a,dst=/t,volume-opt=type=tmpfs')).toThrow(/volume-opt is for type=volume/);
    expect(() => parseMountFlag('type=volume,dst=/t,"volume-opt=o=a')).toThrow(/unclosed double quote/);
  });
  it('errors name the problem', () => {
    expect(() => parseMountFlag('type=bind,target=/b')).toThrow(/needs source=/);
    expect(() => parseMountFlag('type=nfs,target=/b')).toThrow(/bind, volume or tmpfs/);
    expect(() => parseMountFlag('type=volume,source=/abs,target=/b')).toThrow(/not a volume name/);
    expect(() => parseMountFlag('type=bind,source=/a')).toThrow(/target= is required/);
    expect(() => parseMountFlag('type=bind,source=/a,target=/b,readonly=maybe')).toThrow(/true or false/);
  });
});

describe('--tmpfs and --volumes-from', () => {
  it('parses and checks', () => {
    expect(parseTmpfsFlag('/run:size=1m,noexec')).toEqual({ type: 'tmpfs', destination: '/run', options: ['size=1m', 'noexec'] });
    expect(() => parseTmpfsFlag('/run:bogus')).toThrow(/unknown option "bogus"/);
    expect(parseVolumesFrom('c1:ro')).toEqual({ container: 'c1', mode: 'ro' });
    expect(parseVolumesFrom('c1')).toEqual({ container: 'c1' });
    expect(() => parseVolumesFrom('c1:rx')).toThrow(/CONTAINER\[:ro\|rw\]/);
  });
});
