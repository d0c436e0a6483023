import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { allocatePorts, exposedPorts, formatBinding, formatBindings, parsePublish } from './ports.js';

describe('parsePublish', () => {
  it('reads the forms docker reads', () => {
    expect(parsePublish('4000:80')).toEqual([{ hostIP: '', hostPort: 4000, containerPort: 80, protocol: 'tcp' }]);
    expect(parsePublish('80')).toEqual([{ hostIP: '', hostPort: 0, containerPort: 80, protocol: 'tcp' }]);
    expect(parsePublish('127.0.0.1:4000:80/udp')).toEqual([{ hostIP: '127.0.0.1', hostPort: 4000, containerPort: 80, protocol: 'udp' }]);
    expect(parsePublish('127.0.0.1::80')).toEqual([{ hostIP: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'tcp' }]);
    expect(parsePublish('53/UDP')).toEqual([{ hostIP: '', hostPort: 0, containerPort: 53, protocol: 'udp' }]);
  });

  it('maps ranges one to one', () => {
    expect(parsePublish('8000-8002:9000-9002').map((p) => `${p.hostPort}>${p.containerPort}`)).toEqual(['8000>9000', '8001>9001', '8002>9002']);
    expect(parsePublish('7000-7001').map((p) => [p.hostPort, p.containerPort])).toEqual([[0, 7000], [0, 7001]]);
  });

  it('refuses what is not a mapping, with a message naming the flag', () => {
    for (const bad of ['', 'abc', '0', '70000', '1:2:3:4', '80/sctp', 'x.y:1:2', '8000-8001:80', '90-80', ':80', '80:']) {
      expect(() => parsePublish(bad), bad).toThrow(/^invalid -p /);
    }
  });
});

describe('exposedPorts and formatting', () => {
  it('turns ExposedPorts into free-port requests and skips odd entries', () => {
    expect(exposedPorts({ '80/tcp': {}, '53/udp': {}, 'nonsense': {} })).toEqual([
      { hostIP: '', hostPort: 0, containerPort: 80, protocol: 'tcp' },
      { hostIP: '', hostPort: 0, containerPort: 53, protocol: 'udp' },
    ]);
    expect(exposedPorts(undefined)).toEqual([]);
  });

  it('prints like docker port and docker ps', () => {
    const b = { hostIP: '', hostPort: 4000, containerPort: 80, protocol: 'tcp' as const };
    expect(formatBinding(b)).toBe('80/tcp -> 0.0.0.0:4000');
    expect(formatBindings([b, { ...b, hostIP: '127.0.0.1', protocol: 'udp' }])).toBe('0.0.0.0:4000->80/tcp, 127.0.0.1:4000->80/udp');
  });
});

describe('allocatePorts', () => {
  it('gives free ports for 0, refuses a port a program listens on or another container holds', async () => {
    const [a] = await allocatePorts([{ hostIP: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'tcp' }], []);
    expect(a!.hostPort).toBeGreaterThan(0);
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const busy = (srv.address() as { port: number }).port;
    try {
      await expect(allocatePorts([{ hostIP: '', hostPort: busy, containerPort: 80, protocol: 'tcp' }], [])).rejects.toMatchObject({ reason: 'port-in-use', message: expect.stringMatching(/a program on the host listens on it/) });
    } finally {
      srv.close();
    }
    await expect(allocatePorts([{ hostIP: '', hostPort: a!.hostPort, containerPort: 80, protocol: 'tcp' }], [a!])).rejects.toThrow(/another container publishes it/);
    // The same port for udp is another port.
    await expect(allocatePorts([{ hostIP: '', hostPort: a!.hostPort, containerPort: 80, protocol: 'udp' }], [a!])).resolves.toHaveLength(1);
  });

  it('refuses a udp port a program holds, with a udp hint', async () => {
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '0.0.0.0', r));
    const busy = sock.address().port;
    try {
      await expect(allocatePorts([{ hostIP: '', hostPort: busy, containerPort: 53, protocol: 'udp' }], [])).rejects.toMatchObject({
        reason: 'port-in-use',
        message: `host port ${busy}/udp is already in use (a program on the host listens on it): publish another one, e.g. -p ${busy + 1}:53/udp`,
      });
    } finally {
      sock.close();
    }
  });
});
