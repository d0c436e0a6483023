import { describe, expect, it } from 'vitest';
import { listOrMapping, parseShortPort, parseShortVolume } from './short-syntax.js';

describe('parseShortPort', () => {
  it.each([
    ['3000', [{ target: 3000, protocol: 'tcp' }]],
    [8080, [{ target: 8080, protocol: 'tcp' }]],
    ['8000:80', [{ target: 80, published: '8000', protocol: 'tcp' }]],
    ['127.0.0.1:8001:8001', [{ target: 8001, published: '8001', host_ip: '127.0.0.1', protocol: 'tcp' }]],
    ['6060:6060/udp', [{ target: 6060, published: '6060', protocol: 'udp' }]],
    ['[::1]:6001:6001', [{ target: 6001, published: '6001', host_ip: '::1', protocol: 'tcp' }]],
    ['127.0.0.1::5000', [{ target: 5000, host_ip: '127.0.0.1', protocol: 'tcp' }]],
    ['9090-9091:8080-8081', [{ target: 8080, published: '9090', protocol: 'tcp' }, { target: 8081, published: '9091', protocol: 'tcp' }]],
    ['8000-8010:80', [{ target: 80, published: '8000-8010', protocol: 'tcp' }]],
    ['3000-3001', [{ target: 3000, protocol: 'tcp' }, { target: 3001, protocol: 'tcp' }]],
  ])('%s', (spec, want) => {
    expect(parseShortPort(spec, 'p')).toEqual(want);
  });
  it.each(['0', '70000', 'abc', '80/sctp', '1:2:3:4', '9090-9092:8080-8081', '10-5'])('refuses %s naming the key', (spec) => {
    expect(() => parseShortPort(spec, 'services.web.ports[0]')).toThrow(/^services\.web\.ports\[0\]: /);
  });
});

describe('parseShortVolume', () => {
  it('tells anonymous, named and bind volumes apart and reads modes', () => {
    expect(parseShortVolume('/data', '/proj', 'v')).toEqual({ type: 'volume', target: '/data' });
    expect(parseShortVolume('db:/var/lib/db:ro', '/proj', 'v')).toEqual({ type: 'volume', source: 'db', target: '/var/lib/db', read_only: true });
    expect(parseShortVolume('./conf:/etc/app:ro,z', '/proj', 'v')).toEqual({
      type: 'bind',
      source: '/proj/conf',
      target: '/etc/app',
      read_only: true,
      bind: { create_host_path: true, selinux: 'z' },
    });
    expect(parseShortVolume('/abs:/x', '/proj', 'v').source).toBe('/abs');
  });
  it('refuses relative targets and unknown modes', () => {
    expect(() => parseShortVolume('db:data', '/p', 'services.a.volumes[1]')).toThrow(/services\.a\.volumes\[1\]: .*absolute/);
    expect(() => parseShortVolume('db:/data:rx', '/p', 'v')).toThrow(/invalid volume mode "rx"/);
  });
});

describe('listOrMapping', () => {
  it('turns lists into mappings; a key without a value is null', () => {
    expect(listOrMapping(['A=1', 'B', 'C=x=y'], 'e')).toEqual({ A: '1', B: null, C: 'x=y' });
    expect(listOrMapping({ A: 1, B: true, C: null }, 'e')).toEqual({ A: '1', B: 'true', C: null });
    expect(() => listOrMapping('A=1', 'services.a.environment')).toThrow(/services\.a\.environment: must be a list or a mapping/);
  });
});
