import { describe, expect, it } from 'vitest';
import { chooseSubnet, formatSubnet, overlaps, parseRouteTable, parseSubnet } from './subnet.js';

describe('subnets', () => {
  it('parses CIDRs and refuses host bits, odd prefixes and junk', () => {
    expect(formatSubnet(parseSubnet('10.99.0.0/16'))).toBe('10.99.0.0/16');
    expect(() => parseSubnet('10.99.0.1/16')).toThrow(/host bits are set \(did you mean 10\.99\.0\.0\/16\?\)/);
    for (const bad of ['10.0.0.0', '10.0.0.0/31', '300.1.1.0/24', 'x/24']) expect(() => parseSubnet(bad), bad).toThrow(/^invalid subnet/);
  });

  it('tells overlapping subnets', () => {
    expect(overlaps(parseSubnet('10.0.0.0/8'), parseSubnet('10.90.3.0/24'))).toBe(true);
    expect(overlaps(parseSubnet('10.90.3.0/24'), parseSubnet('10.90.4.0/24'))).toBe(false);
  });

  it('reads /proc/net/route without the default route', () => {
    const table = [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
      'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
      'br0\t00005A0A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0',
    ].join('\n');
    expect(parseRouteTable(table).map(formatSubnet)).toEqual(['192.0.2.0/24', '10.90.0.0/16']);
  });

  it('chooses the first /24 of 10.90.0.0/16 that clashes with nothing', () => {
    expect(formatSubnet(chooseSubnet([]))).toBe('10.90.0.0/24');
    expect(formatSubnet(chooseSubnet([parseSubnet('10.90.0.0/23')]))).toBe('10.90.2.0/24');
    expect(formatSubnet(chooseSubnet([], 255))).toBe('10.90.255.0/24');
    expect(() => chooseSubnet([parseSubnet('10.0.0.0/8')])).toThrow(/no free subnet/);
  });
});
