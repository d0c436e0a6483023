import { describe, expect, it } from 'vitest';
import type { ResolvedMount } from '../engine/containers/container-mounts.js';
import type { MountRequest } from '../engine/volumes/mount-options.js';
import { carryAnonymousVolumes } from './anonymous-volumes.js';

const anon = (destination: string, name: string): ResolvedMount => ({ type: 'volume', destination, name, anonymous: true, readOnly: false, source: `/v/${name}/_data` });

describe('carryAnonymousVolumes', () => {
  it('gives an anonymous request at the same path the old volume, keeping its options', () => {
    const req: MountRequest[] = [{ type: 'volume', destination: '/data', readOnly: true, noCopy: false }];
    expect(carryAnonymousVolumes(req, [anon('/data', 'abc')])).toEqual([{ type: 'volume', name: 'abc', destination: '/data', readOnly: true, noCopy: false }]);
    expect(req[0]).not.toHaveProperty('name'); // the input is left as it was
  });

  it('keeps an image VOLUME\'s anonymous volume at a path nothing asks for', () => {
    expect(carryAnonymousVolumes([], [anon('/var/lib/db', 'v1')])).toEqual([{ type: 'volume', name: 'v1', destination: '/var/lib/db', readOnly: false, noCopy: true }]);
  });

  it('lets a named volume, a bind or a tmpfs asked for at that path win, and ignores named and bind mounts of the old one', () => {
    const req: MountRequest[] = [
      { type: 'volume', name: 'named', destination: '/a', readOnly: false, noCopy: false },
      { type: 'bind', source: '/host', destination: '/b', readOnly: false, create: true },
      { type: 'tmpfs', destination: '/c', options: [] },
    ];
    const old: ResolvedMount[] = [anon('/a', 'x'), anon('/b', 'y'), anon('/c', 'z'), { type: 'volume', destination: '/d', name: 'other', readOnly: false }, { type: 'bind', destination: '/e', source: '/h', readOnly: false }];
    expect(carryAnonymousVolumes(req, old)).toEqual(req);
  });
});
