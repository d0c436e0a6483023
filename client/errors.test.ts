import { describe, expect, it } from 'vitest';
import { parseErrorBody, RegistryResponseError, responseHint } from './errors.js';

describe('RegistryResponseError', () => {
  it('keeps every diagnostic of the body and names them all in its message', () => {
    const body = parseErrorBody(JSON.stringify({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown', detail: { digest: 'sha256:1' } }, { code: 'DENIED', message: 'no' }] }));
    const err = new RegistryResponseError('GET', 'https://r.example/v2/a/blobs/sha256:1', 404, body.code, body.message, body.errors);
    expect(err.errors).toEqual([{ code: 'BLOB_UNKNOWN', message: 'blob unknown', detail: { digest: 'sha256:1' } }, { code: 'DENIED', message: 'no' }]);
    expect(err.message).toBe('GET https://r.example/v2/a/blobs/sha256:1: 404 BLOB_UNKNOWN: blob unknown; DENIED: no');
    expect(err.kind).toBe('not-found');
    expect(err.hint).toBeUndefined();
  });

  it('hints that a registry answering plain HTTP with "HTTP request to an HTTPS server" speaks HTTPS only', () => {
    // Go's net/http answers in plain text; Stevedore in the spec's JSON.
    for (const text of ['Client sent an HTTP request to an HTTPS server.\n', JSON.stringify({ errors: [{ code: 'UNSUPPORTED', message: 'client sent an HTTP request to an HTTPS server' }] })]) {
      const body = parseErrorBody(text);
      const err = new RegistryResponseError('GET', 'http://127.0.0.1:5443/v2/', 400, body.code, body.message, body.errors);
      expect(err.hint).toBe('the registry at 127.0.0.1:5443 speaks HTTPS only: drop it from insecure-registries (and --plain-http)');
    }
  });

  it('gives that hint only for a 400 to a plain-HTTP URL', () => {
    const d = [{ message: 'Client sent an HTTP request to an HTTPS server.' }];
    expect(responseHint('https://r.example/v2/', 400, d)).toBeUndefined();
    expect(responseHint('http://r.example/v2/', 404, d)).toBeUndefined();
    expect(responseHint('http://r.example/v2/', 400, [{ message: 'bad request' }])).toBeUndefined();
  });
});
