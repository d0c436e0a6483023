import { describe, expect, it } from 'vitest';
import { parseSave } from './iptables.js';
import { networkRulesAddition, networkRulesRemoval } from './network-rules.js';

const EMPTY = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
COMMIT
`;

// What iptables-save showed here with the default network of a test root (bridge stvd1) in place.
const ONE = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:STEVEDORE-FORWARD - [0:0]
:STEVEDORE-ISOLATION-1 - [0:0]
:STEVEDORE-ISOLATION-2 - [0:0]
-A FORWARD -m comment --comment stevedore -j STEVEDORE-FORWARD
-A STEVEDORE-FORWARD -m comment --comment stevedore -j STEVEDORE-ISOLATION-1
-A STEVEDORE-FORWARD -o stvd1 -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -m comment --comment "stevedore:stvd1" -j ACCEPT
-A STEVEDORE-FORWARD -i stvd1 -m comment --comment "stevedore:stvd1" -j ACCEPT
-A STEVEDORE-ISOLATION-1 -i stvd1 ! -o stvd1 -m comment --comment "stevedore:stvd1" -j STEVEDORE-ISOLATION-2
-A STEVEDORE-ISOLATION-2 -o stvd1 -m comment --comment "stevedore:stvd1" -j DROP
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:STEVEDORE-POSTROUTING - [0:0]
-A POSTROUTING -m comment --comment stevedore -j STEVEDORE-POSTROUTING
-A STEVEDORE-POSTROUTING -s 10.90.1.0/24 -d 224.0.0.0/4 -m comment --comment "stevedore:stvd1" -j RETURN
-A STEVEDORE-POSTROUTING -s 10.90.1.0/24 ! -d 10.90.1.0/24 -m comment --comment "stevedore:stvd1" -j MASQUERADE
COMMIT
`;

const net1 = { bridge: 'stvd1', subnet: '10.90.1.0/24', internal: false };

describe("a network's host rules", () => {
  it('on a host without any: the chains, the jumps to them first in FORWARD, then the rules', () => {
    expect(networkRulesAddition(parseSave(EMPTY), net1).split('\n')).toEqual([
      '*filter',
      ':STEVEDORE-FORWARD - [0:0]',
      ':STEVEDORE-ISOLATION-1 - [0:0]',
      ':STEVEDORE-ISOLATION-2 - [0:0]',
      '-I STEVEDORE-FORWARD -m comment --comment stevedore -j STEVEDORE-ISOLATION-1',
      '-I FORWARD -m comment --comment stevedore -j STEVEDORE-FORWARD',
      '-A STEVEDORE-ISOLATION-1 -i stvd1 ! -o stvd1 -m comment --comment stevedore:stvd1 -j STEVEDORE-ISOLATION-2',
      '-A STEVEDORE-ISOLATION-2 -o stvd1 -m comment --comment stevedore:stvd1 -j DROP',
      '-A STEVEDORE-FORWARD -o stvd1 -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -m comment --comment stevedore:stvd1 -j ACCEPT',
      '-A STEVEDORE-FORWARD -i stvd1 -m comment --comment stevedore:stvd1 -j ACCEPT',
      'COMMIT',
      '*nat',
      ':STEVEDORE-POSTROUTING - [0:0]',
      '-A POSTROUTING -m comment --comment stevedore -j STEVEDORE-POSTROUTING',
      '-A STEVEDORE-POSTROUTING -s 10.90.1.0/24 -d 224.0.0.0/4 -m comment --comment stevedore:stvd1 -j RETURN',
      '-A STEVEDORE-POSTROUTING -s 10.90.1.0/24 ! -d 10.90.1.0/24 -m comment --comment stevedore:stvd1 -j MASQUERADE',
      'COMMIT',
      '',
    ]);
  });

  it('adds nothing when they are there; a second network adds only its own rules (never re-declares, so never flushes, a chain)', () => {
    expect(networkRulesAddition(parseSave(ONE), net1)).toBe('');
    const input = networkRulesAddition(parseSave(ONE), { bridge: 'stv-2', subnet: '10.90.2.0/24', internal: true });
    expect(input).not.toMatch(/^:/m);
    expect(input.split('\n')).toEqual([
      '*filter',
      '-A STEVEDORE-ISOLATION-1 -i stv-2 ! -o stv-2 -m comment --comment stevedore:stv-2 -j STEVEDORE-ISOLATION-2',
      '-A STEVEDORE-ISOLATION-2 -o stv-2 -m comment --comment stevedore:stv-2 -j DROP',
      // --internal: nothing forwarded in or out, and no masquerade.
      '-A STEVEDORE-FORWARD -i stv-2 ! -o stv-2 -m comment --comment stevedore:stv-2 -j DROP',
      '-A STEVEDORE-FORWARD -o stv-2 ! -i stv-2 -m comment --comment stevedore:stv-2 -j DROP',
      'COMMIT',
      '',
    ]);
  });

  it("removal of the last network's rules takes the chains and the jumps too", () => {
    expect(networkRulesRemoval(parseSave(ONE), ['stvd1']).split('\n')).toEqual([
      '*filter',
      '-D STEVEDORE-FORWARD -o stvd1 -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -m comment --comment "stevedore:stvd1" -j ACCEPT',
      '-D STEVEDORE-FORWARD -i stvd1 -m comment --comment "stevedore:stvd1" -j ACCEPT',
      '-D STEVEDORE-ISOLATION-1 -i stvd1 ! -o stvd1 -m comment --comment "stevedore:stvd1" -j STEVEDORE-ISOLATION-2',
      '-D STEVEDORE-ISOLATION-2 -o stvd1 -m comment --comment "stevedore:stvd1" -j DROP',
      '-D FORWARD -m comment --comment stevedore -j STEVEDORE-FORWARD',
      '-F STEVEDORE-FORWARD', '-F STEVEDORE-ISOLATION-1', '-F STEVEDORE-ISOLATION-2',
      '-X STEVEDORE-FORWARD', '-X STEVEDORE-ISOLATION-1', '-X STEVEDORE-ISOLATION-2',
      'COMMIT',
      '*nat',
      '-D STEVEDORE-POSTROUTING -s 10.90.1.0/24 -d 224.0.0.0/4 -m comment --comment "stevedore:stvd1" -j RETURN',
      '-D STEVEDORE-POSTROUTING -s 10.90.1.0/24 ! -d 10.90.1.0/24 -m comment --comment "stevedore:stvd1" -j MASQUERADE',
      '-D POSTROUTING -m comment --comment stevedore -j STEVEDORE-POSTROUTING',
      '-F STEVEDORE-POSTROUTING',
      '-X STEVEDORE-POSTROUTING',
      'COMMIT',
      '',
    ]);
  });

  it("keeps the chains while another network's rules (another engine root's too) are in them", () => {
    const two = ONE.replace('COMMIT\n*nat', '-A STEVEDORE-FORWARD -i stv-9 -m comment --comment "stevedore:stv-9" -j ACCEPT\nCOMMIT\n*nat');
    const [filter, nat] = networkRulesRemoval(parseSave(two), ['stvd1']).split('*nat');
    expect(filter).toMatch(/^-D STEVEDORE-FORWARD -i stvd1 /m);
    expect(filter).not.toMatch(/^-[FX] |^-D FORWARD /m);
    expect(nat).toMatch(/^-X STEVEDORE-POSTROUTING$/m); // the nat table held only stvd1's rules
    expect(networkRulesRemoval(parseSave(EMPTY), ['stvd1'])).toBe('');
    expect(networkRulesRemoval(parseSave(ONE), ['other'])).toBe('');
  });
});
