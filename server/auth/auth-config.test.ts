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

  it('refuses the built-in token service without a realm on a listener other than loopback (never the Host header)', () => {
    const token = (addr: string, realm = '') =>
      load({ http: { addr }, auth: { mode: 'token', token: { realm }, htpasswd: { path: '/x' }, tokenService: { enabled: true, keyFile: '/k' } } } as ConfigInput);
    expect(() => token(':5000')).toThrow(/auth\.token\.realm: is required when http\.addr is not a loopback address/);
    expect(() => token('0.0.0.0:5000')).toThrow(/auth\.token\.realm/);
    expect(() => token('[::]:5000')).toThrow(/auth\.token\.realm/);
    expect(() => token('10.1.2.3:5000')).toThrow(/auth\.token\.realm/);
    expect(token('127.0.0.1:5000').auth.token.realm).toBe('');
    expect(token('[::1]:5000').auth.token.realm).toBe('');
    expect(token('localhost:5000').auth.token.realm).toBe('');
    expect(token(':5000', 'https://registry.example.com/auth/token').auth.token.realm).toBe('https://registry.example.com/auth/token');
  });

  it('accepts compound durations like the rest of the configuration', () => {
    expect(load({ auth: { tokenService: { expiry: '1m30s' } } }).auth.tokenService.expiry).toBe(90_000);
  });
});
