import { describe, expect, it } from 'vitest';
import { classifyAnswer } from './tls-sniff.js';

describe('classifyAnswer', () => {
  it('TLS handshake and alert records are TLS', () => {
    expect(classifyAnswer(Buffer.from([0x16, 0x03, 0x03, 0x00, 0x5a]))).toBe('tls');
    expect(classifyAnswer(Buffer.from([0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46]))).toBe('tls');
    expect(classifyAnswer(Buffer.from([0x16]))).toBe('tls');
  });

  it('an HTTP status line is plain HTTP', () => {
    expect(classifyAnswer(Buffer.from('HTTP/1.1 400 Bad Request\r\n'))).toBe('plain');
    expect(classifyAnswer(Buffer.from('HTTP/1.0 400'))).toBe('plain');
  });

  it('waits for more bytes while the start could still be either', () => {
    expect(classifyAnswer(Buffer.alloc(0))).toBeUndefined();
    expect(classifyAnswer(Buffer.from('HTT'))).toBeUndefined();
  });

  it('anything else is unknown (the caller keeps HTTPS first)', () => {
    expect(classifyAnswer(Buffer.from('SSH-2.0-OpenSSH'))).toBe('unknown');
    expect(classifyAnswer(Buffer.from([0x16, 0x01]))).toBe('unknown');
    expect(classifyAnswer(Buffer.from('HTTX/1.1'))).toBe('unknown');
  });
});
