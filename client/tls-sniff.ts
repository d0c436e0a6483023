// Does a host:port speak TLS or plain HTTP? Asked of insecure registries before their first
// request, which would otherwise try a full HTTPS request first and fall back to plain HTTP on its
// failure (as Docker does): in Node that first attempt costs loading node:tls and a handshake,
// 35-45 ms of a 0.3 s pull from a plain-HTTP loopback registry. The sniff sends a TLS ClientHello
// on a bare TCP connection and looks at the first bytes of the answer: a TLS server answers with a
// handshake or alert record, a plain HTTP server with "HTTP/1.x 400". Only that HTTP answer makes
// the host plain; anything else (TLS, silence, a closed connection) leaves the usual HTTPS-first
// path, so a host is never used over plain HTTP on less evidence than before.

export type SniffResult = 'tls' | 'plain' | 'unknown';

/**
 * A minimal TLS 1.2 ClientHello record. Its random field carries "\r\n\r\n": servers that read an
 * HTTP request line by line (Go's net/http, docker-registry) see a complete, malformed request and
 * answer 400 at once instead of waiting for a newline; TLS servers ignore the random's content.
 */
function clientHello(): Buffer {
  const random = Buffer.alloc(32, 0x41);
  random.write('\r\n\r\n', 0, 'latin1');
  const suites = Buffer.from([0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f, 0xc0, 0x2b, 0xc0, 0x30, 0xc0, 0x2c, 0x00, 0x9c]);
  const body = Buffer.concat([
    Buffer.from([0x03, 0x03]), // client_version TLS 1.2
    random,
    Buffer.from([0x00]), // no session id
    Buffer.from([suites.length >> 8, suites.length & 0xff]),
    suites,
    Buffer.from([0x01, 0x00]), // compression: null only
    Buffer.from([0x00, 0x00]), // no extensions
  ]);
  const handshake = Buffer.concat([Buffer.from([0x01, 0x00, body.length >> 8, body.length & 0xff]), body]);
  return Buffer.concat([Buffer.from([0x16, 0x03, 0x01, handshake.length >> 8, handshake.length & 0xff]), handshake]);
}

/** What the first bytes of a server's answer to a ClientHello say it speaks. */
export function classifyAnswer(first: Buffer): SniffResult | undefined {
  if (first.length === 0) return undefined;
  // TLS record types: 0x15 alert, 0x16 handshake, each followed by a 0x03 major version.
  if ((first[0] === 0x15 || first[0] === 0x16) && (first.length < 2 || first[1] === 0x03)) return 'tls';
  const text = first.subarray(0, 5).toString('latin1');
  if ('HTTP/'.startsWith(text) && text.length < 5) return undefined; // too short to tell yet
  return text === 'HTTP/' ? 'plain' : 'unknown';
}

/**
 * Sniffs `host:port`. A host without a port is 'unknown' without asking: its HTTPS (443) and plain
 * HTTP (80) are different ports, so what 443 speaks says nothing about the plain fallback.
 */
export function sniffTls(apiHost: string, timeoutMs = 1000): Promise<SniffResult> {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(apiHost) ?? /^([^:]+):(\d+)$/.exec(apiHost);
  if (!m) return Promise.resolve('unknown');
  const host = m[1]!;
  const port = Number(m[2]);
  const net = process.getBuiltinModule('node:net');
  return new Promise((resolve) => {
    let seen = Buffer.alloc(0);
    const socket = net.connect({ host, port });
    const done = (r: SniffResult) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done('unknown'), timeoutMs);
    socket.once('connect', () => socket.write(clientHello()));
    socket.on('data', (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      const r = classifyAnswer(seen);
      if (r) done(r);
    });
    socket.once('error', () => done('unknown'));
    socket.once('close', () => done(classifyAnswer(seen) ?? 'unknown'));
  });
}
