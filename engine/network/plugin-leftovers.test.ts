import { describe, expect, it } from 'vitest';
import { parseSave } from './iptables.js';
import { leftoverRemoval } from './plugin-leftovers.js';

// What iptables-save showed here after the last container of bridge stvd1 left (see network.test.ts).
const SAVE = `*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:CNI-ADMIN - [0:0]
:CNI-FORWARD - [0:0]
:CNI-ISOLATION-STAGE-1 - [0:0]
:CNI-ISOLATION-STAGE-2 - [0:0]
-A FORWARD -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j CNI-ISOLATION-STAGE-1
-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD
-A CNI-FORWARD -m comment --comment "CNI firewall plugin admin overrides" -j CNI-ADMIN
-A CNI-ISOLATION-STAGE-1 -i stvd1 ! -o stvd1 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j CNI-ISOLATION-STAGE-2
-A CNI-ISOLATION-STAGE-1 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j RETURN
-A CNI-ISOLATION-STAGE-2 -o stvd1 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j DROP
-A CNI-ISOLATION-STAGE-2 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j RETURN
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:CNI-HOSTPORT-DNAT - [0:0]
:CNI-HOSTPORT-MASQ - [0:0]
:CNI-HOSTPORT-SETMARK - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ
-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE
-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark 0x2000/0x2000
COMMIT
`;

describe('removing the plugins\' leftovers', () => {
  it('drops a gone bridge\'s isolation rules, then the idle shared chains and the jumps to them', () => {
    const input = leftoverRemoval(parseSave(SAVE), ['stvd1']);
    expect(input.split('\n')).toEqual([
      '*filter',
      '-D CNI-ISOLATION-STAGE-1 -i stvd1 ! -o stvd1 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j CNI-ISOLATION-STAGE-2',
      '-D CNI-ISOLATION-STAGE-2 -o stvd1 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j DROP',
      '-D FORWARD -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j CNI-ISOLATION-STAGE-1',
      '-D FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD',
      '-F CNI-FORWARD', '-F CNI-ADMIN', '-F CNI-ISOLATION-STAGE-1', '-F CNI-ISOLATION-STAGE-2',
      '-X CNI-FORWARD', '-X CNI-ADMIN', '-X CNI-ISOLATION-STAGE-1', '-X CNI-ISOLATION-STAGE-2',
      'COMMIT',
      '*nat',
      '-D PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT',
      '-D OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT',
      '-D POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ',
      '-F CNI-HOSTPORT-DNAT', '-F CNI-HOSTPORT-MASQ', '-F CNI-HOSTPORT-SETMARK',
      '-X CNI-HOSTPORT-DNAT', '-X CNI-HOSTPORT-MASQ', '-X CNI-HOSTPORT-SETMARK',
      'COMMIT',
      '',
    ]);
  });

  it('leaves chains another bridge or container still uses', () => {
    const busy = SAVE.replace('COMMIT\n*nat', '-A CNI-FORWARD -s 10.1.0.5/32 -j ACCEPT\nCOMMIT\n*nat').replace(/COMMIT\n$/, '-A CNI-HOSTPORT-DNAT -p tcp -j CNI-DN-x\nCOMMIT\n');
    expect(leftoverRemoval(parseSave(busy), ['stvd1']).split('\n')).toEqual([
      '*filter',
      '-D CNI-ISOLATION-STAGE-1 -i stvd1 ! -o stvd1 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j CNI-ISOLATION-STAGE-2',
      '-D CNI-ISOLATION-STAGE-2 -o stvd1 -m comment --comment "CNI firewall plugin rules (ingressPolicy: same-bridge)" -j DROP',
      'COMMIT',
      '',
    ]);
    expect(leftoverRemoval(parseSave(busy), ['other'])).toBe('');
  });
});
