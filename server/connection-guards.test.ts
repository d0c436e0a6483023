import { describe, expect, it } from 'vitest';
import { clientErrorAnswer, isTlsHandshake, rawErrorResponse } from './connection-guards.js';

describe('clientErrorAnswer', () => {
  it('maps Node parser errors to the status a client should see', () => {
    expect(clientErrorAnswer('HPE_HEADER_OVERFLOW').status).toBe(431);
    expect(clientErrorAnswer('ERR_HTTP_REQUEST_TIMEOUT').status).toBe(408);
    expect(clientErrorAnswer('HPE_INVALID_CONTENT_LENGTH')).toEqual({ status: 400, message: 'malformed request: invalid Content-Length' });
    expect(clientErrorAnswer('HPE_SOMETHING_NEW')).toEqual({ status: 400, message: 'malformed HTTP request' });
    expect(clientErrorAnswer(undefined).status).toBe(400);
  });
});

describe('rawErrorResponse', () => {
  it('is a complete HTTP/1.1 response with a spec error body and an exact Content-Length', () => {
    const text = rawErrorResponse(431, 'request headers are too large');
    const [head, body] = text.split('\r\n\r\n') as [string, string];
    expect(head.split('\r\n')[0]).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(head).toContain('Connection: close');
    expect(head).toContain(`Content-Length: ${Buffer.byteLength(body)}`);
    expect(JSON.parse(body)).toEqual({ errors: [{ code: 'UNSUPPORTED', message: 'request headers are too large', detail: {} }] });
  });
});

describe('isTlsHandshake', () => {
  it('tells a TLS ClientHello from a malformed HTTP request', () => {
    expect(isTlsHandshake(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x2f, 0x01]))).toBe(true);
    expect(isTlsHandshake(Buffer.from('GE T / HTTP/1.1\r\n'))).toBe(false);
    expect(isTlsHandshake(Buffer.from([0x16]))).toBe(false);
    expect(isTlsHandshake(undefined)).toBe(false);
  });
});
