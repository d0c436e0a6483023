import { describe, expect, it } from 'vitest';
import { mountArgs, needsMount, parseVolumeOptions } from './volume-options.js';

describe('the local driver\'s options', () => {
  it('tmpfs and bind, as docker\'s documentation writes them', () => {
    const tmpfs = parseVolumeOptions(['type=tmpfs', 'device=tmpfs', 'o=size=64m,uid=1000']);
    expect(tmpfs).toEqual({ type: 'tmpfs', device: 'tmpfs', o: 'size=64m,uid=1000' });
    expect(needsMount(tmpfs)).toBe(true);
    expect(mountArgs(tmpfs as never, '/v/_data')).toEqual(['-t', 'tmpfs', '-o', 'size=64m,uid=1000', 'tmpfs', '/v/_data']);
    const bind = parseVolumeOptions(['type=none', 'o=bind', 'device=/srv/data']);
    expect(mountArgs(bind as never, '/v/_data')).toEqual(['-t', 'none', '-o', 'bind', '/srv/data', '/v/_data']);
    expect(mountArgs(parseVolumeOptions(['type=tmpfs', 'device=tmpfs']) as never, '/d')).toEqual(['-t', 'tmpfs', 'tmpfs', '/d']);
    expect(needsMount(parseVolumeOptions([]))).toBe(false);
    expect(needsMount(undefined)).toBe(false);
  });

  it.each([
    [['bogus=1'], /^invalid option: "bogus"/],
    [['size=10g'], /^invalid option: "size".*o=size=64m/],
    [['type=tmpfs'], /^missing required option: "device"$/],
    [['device=/x'], /^missing required option: "type"$/],
    [['o=size=1m', 'type=tmpfs'], /^missing required option: "device"$/],
    [['type'], /KEY=VALUE/],
    [['type=tmpfs', 'device=-oremount'], /may not start with "-"/],
    [['type=a b', 'device=x'], /file system type/],
  ])('%j is refused (docker\'s words)', (items, message) => {
    expect(() => parseVolumeOptions(items)).toThrow(message);
  });
});
