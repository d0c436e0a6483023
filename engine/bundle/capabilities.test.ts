import { describe, expect, it } from 'vitest';
import { capabilitiesFor, DEFAULT_CAPABILITIES } from './spec.js';

describe('capabilitiesFor (docker --cap-add / --cap-drop)', () => {
  it('is docker\'s default set without flags', () => {
    expect(capabilitiesFor()).toEqual(DEFAULT_CAPABILITIES);
  });
  it('drops, then adds; names with or without CAP_, any case', () => {
    const caps = capabilitiesFor(['net_admin'], ['NET_RAW', 'CAP_MKNOD']);
    expect(caps).toContain('CAP_NET_ADMIN');
    expect(caps).not.toContain('CAP_NET_RAW');
    expect(caps).not.toContain('CAP_MKNOD');
    expect(caps).toHaveLength(DEFAULT_CAPABILITIES.length - 1);
  });
  it('ALL: drop every default (then add back what is named), or add every capability', () => {
    expect(capabilitiesFor(['CHOWN'], ['ALL'])).toEqual(['CAP_CHOWN']);
    expect(capabilitiesFor(['ALL'])).toContain('CAP_SYS_ADMIN');
  });
  it('refuses an unknown name', () => {
    expect(() => capabilitiesFor(['NET_WIZARD'])).toThrow('unknown capability: "NET_WIZARD"');
  });
});
