import { describe, expect, it } from 'vitest';
import { overlayOptions } from './overlay.js';

describe('overlayOptions (what runc is given to mount the overlay itself)', () => {
  it('lists the top layer first, with absolute upper and work directories', () => {
    expect(overlayOptions(['/s/base/fs', '/s/top/fs'], '/c/upper', '/c/work')).toEqual(['lowerdir=/s/top/fs:/s/base/fs', 'upperdir=/c/upper', 'workdir=/c/work']);
  });

  it("escapes overlayfs's separators in paths (':' between layers, ',' between options)", () => {
    expect(overlayOptions(['/s/sha256:ab,c/fs'], '/c/up', '/c/wo')).toEqual(['lowerdir=/s/sha256\\:ab\\,c/fs', 'upperdir=/c/up', 'workdir=/c/wo']);
  });

  it('is undefined when the options do not fit in one page (the short-link form needs a host mount), or there is no layer', () => {
    const many = Array.from({ length: 60 }, (_, i) => `/var/lib/stevedore/snapshots/${String(i).padStart(64, '0')}/fs`);
    expect(overlayOptions(many, '/c/upper', '/c/work')).toBeUndefined();
    expect(overlayOptions(many.slice(0, 10), '/c/upper', '/c/work')).toHaveLength(3);
    expect(overlayOptions([], '/c/upper', '/c/work')).toBeUndefined();
  });
});
