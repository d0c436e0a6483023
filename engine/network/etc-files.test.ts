import { describe, expect, it } from 'vitest';
import { hostsFile, parseAddHost, resolvConf } from './etc-files.js';
import { parseMac, parseNetworkMode } from './request.js';
import { splitRule } from './iptables.js';

describe('container /etc files', () => {
  it('hosts: localhost, itself, its peers, --add-host', () => {
    const text = hostsFile([{ ip: '10.90.0.2', names: ['box', 'web', 'web'] }], [{ ip: '10.90.0.3', names: ['db', 'database'] }], [parseAddHost('cache:10.1.2.3')]);
    expect(text).toMatch(/^127\.0\.0\.1\tlocalhost\n/);
    expect(text.endsWith('10.90.0.2\tbox web\n10.90.0.3\tdb database\n10.1.2.3\tcache\n')).toBe(true);
  });

  it('resolv.conf: loopback nameservers dropped; --dns replaces the nameservers, keeps search', () => {
    const host = 'search example.org\nnameserver 127.0.0.53\nnameserver 10.0.0.2\n';
    expect(resolvConf(host, [])).toBe('search example.org\nnameserver 10.0.0.2\n');
    expect(resolvConf(host, ['1.1.1.1'])).toBe('nameserver 1.1.1.1\nsearch example.org\n');
  });

  it('refuses bad --add-host, --mac-address and --network values', () => {
    for (const bad of ['db', 'db:', ':1.2.3.4', 'db:1.2.3']) expect(() => parseAddHost(bad), bad).toThrow(/^invalid --add-host/);
    expect(parseMac('02:42:AC:11:00:02')).toBe('02:42:ac:11:00:02');
    expect(() => parseMac('01:00:5e:00:00:01')).toThrow(/multicast/);
    expect(() => parseMac('02:42')).toThrow(/^invalid --mac-address/);
    expect(parseNetworkMode(undefined)).toEqual({ mode: 'bridge', network: 'bridge' });
    expect(parseNetworkMode('container:web')).toEqual({ mode: 'container', container: 'web' });
    expect(parseNetworkMode('mynet')).toEqual({ mode: 'bridge', network: 'mynet' });
    expect(() => parseNetworkMode('container:')).toThrow(/needs a container/);
    expect(() => parseNetworkMode('bad name')).toThrow(/^invalid --network/);
  });

  it('splits iptables -S lines with quoted comments', () => {
    expect(splitRule('-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD')).toEqual(['-A', 'FORWARD', '-m', 'comment', '--comment', 'CNI firewall plugin rules', '-j', 'CNI-FORWARD']);
  });
});
