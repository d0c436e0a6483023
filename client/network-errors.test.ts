import { describe, expect, it } from 'vitest';
import { describeNetworkFailure } from './network-errors.js';

const coded = (code: string, nested = false) => {
  const inner = Object.assign(new Error(`failed: ${code}`), { code });
  return nested ? Object.assign(new TypeError('fetch failed'), { cause: inner }) : inner;
};

describe('describeNetworkFailure', () => {
  it('says a registry speaks plain HTTP when TLS was spoken to it', () => {
    for (const err of [coded('ERR_SSL_WRONG_VERSION_NUMBER', true), coded('UND_ERR_SOCKET')]) {
      expect(describeNetworkFailure('https://reg.example:5000/v2/', err)).toEqual({
        why: (err as { code?: string }).code ?? 'ERR_SSL_WRONG_VERSION_NUMBER',
        kind: 'unavailable',
        hint: 'the registry at reg.example:5000 speaks plain HTTP: use --insecure-registry reg.example:5000 or add it to insecure-registries',
      });
    }
  });

  it("reads the TLS reason from the EPROTO error Node's http client gives", () => {
    const err = Object.assign(new Error('write EPROTO 80CC:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:ssl3_record.c:350:'), { code: 'EPROTO' });
    const f = describeNetworkFailure('https://reg.example:5000/v2/', err);
    expect(f.why).toBe('ERR_SSL_WRONG_VERSION_NUMBER');
    expect(f.hint).toMatch(/reg\.example:5000 speaks plain HTTP/);
  });

  it('says a registry may speak HTTPS only when plain HTTP was cut off', () => {
    expect(describeNetworkFailure('http://reg.example:5000/v2/', coded('UND_ERR_SOCKET')).hint).toMatch(/reg\.example:5000 may speak HTTPS only/);
  });

  it('says where the CA goes for an unknown certificate authority', () => {
    const f = describeNetworkFailure('https://127.0.0.1:5443/v2/', coded('SELF_SIGNED_CERT_IN_CHAIN', true));
    expect(f.hint).toBe(
      'the registry\'s certificate is signed by an unknown authority: put its CA certificate in /etc/docker/certs.d/127.0.0.1:5443/ca.crt (or a 127.0.0.1:5443/ directory under one of STEVEDORE_CERTS_DIRS)',
    );
  });

  it('names host and port of a registry that refuses connections, the default port included', () => {
    expect(describeNetworkFailure('http://localhost:5999/v2/', coded('ECONNREFUSED', true)).hint).toBe('the registry is not answering at localhost:5999');
    expect(describeNetworkFailure('https://reg.example/v2/', coded('ECONNREFUSED')).hint).toBe('the registry is not answering at reg.example:443');
  });

  it('is unavailable without a hint for anything else', () => {
    expect(describeNetworkFailure('https://reg.example/v2/', new Error('something odd'))).toEqual({ why: 'something odd', kind: 'unavailable' });
  });
});
