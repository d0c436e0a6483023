import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type ConfigInput } from '../config.js';

const load = (overrides: ConfigInput) => loadConfig({ overrides });

describe('auth and tls configuration', () => {
  it('defaults to no access control and plain HTTP', () => {
    const c = load({});
    expect(c.auth.mode).toBe('none');
    expect(c.tls.certificate).toBe('');
    expect(c.auth.bruteForce.lockout).toBe(10_000);
    expect(c.auth.tokenService).toMatchObject({ certificate: '', keyIdFormat: 'jwk-thumbprint', services: [] });
  });

  it('names what a mode is missing', () => {
    expect(() => load({ auth: { mode: 'htpasswd' } })).toThrow(/auth\.htpasswd\.path: is required when auth\.mode is htpasswd/);
    expect(() => load({ auth: { mode: 'token' } })).toThrow(/auth\.token: needs jwksUrl, jwksFile or rootCertBundle/);
    expect(() => load({ auth: { mode: 'token', token: { jwksFile: '/x' } } })).toThrow(/auth\.token\.realm: is required/);
    expect(() => load({ auth: { tokenService: { enabled: true }, htpasswd: { path: '/x' } } })).toThrow(/auth\.tokenService\.keyFile/);
    expect(() => load({ tls: { certificate: '/c' } })).toThrow(ConfigError);
    expect(() => load({ auth: { access: [{ repositories: ['a/*'], actions: ['pull'] }] } } as ConfigInput)).toThrow(/a rule needs users, groups or anonymous/);
    expect(() => load({ auth: { token: { algorithms: ['HS256'] } } } as unknown as ConfigInput)).toThrow(ConfigError);
    expect(() => load({ auth: { tokenService: { keyIdFormat: 'x5t' } } } as unknown as ConfigInput)).toThrow(/auth\.tokenService\.keyIdFormat/);
  });

  it('accepts compound durations like the rest of the configuration', () => {
    expect(load({ auth: { tokenService: { expiry: '1m30s' } } }).auth.tokenService.expiry).toBe(90_000);
  });
});
