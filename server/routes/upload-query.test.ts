import { parse } from 'node:querystring';
import { describe, expect, it } from 'vitest';
import { uploadQuery } from './upload-query.js';

describe('uploadQuery', () => {
  it('reads mount, from and digest once each', () => {
    expect(uploadQuery(parse('mount=sha256:ab&from=a/b'))).toEqual({ ok: true, mount: 'sha256:ab', from: 'a/b' });
    expect(uploadQuery(parse('digest=sha256:ab&other=1&other=2'))).toEqual({ ok: true, digest: 'sha256:ab' });
    expect(uploadQuery(parse('mount=sha256:ab&from='))).toEqual({ ok: true, mount: 'sha256:ab', from: '' });
  });

  it('refuses a repeated parameter and bracket forms', () => {
    expect(uploadQuery(parse('mount=sha256:ab&from=bob/private&from=alice/x'))).toEqual({ ok: false, param: 'from' });
    expect(uploadQuery(parse('mount=sha256:ab&mount=sha256:cd'))).toEqual({ ok: false, param: 'mount' });
    expect(uploadQuery(parse('mount=sha256:ab&from[]=bob/private'))).toEqual({ ok: false, param: 'from' });
    expect(uploadQuery(parse('mount=sha256:ab&from%5B0%5D=bob/private'))).toEqual({ ok: false, param: 'from' });
    expect(uploadQuery(parse('mount[]=sha256:ab'))).toEqual({ ok: false, param: 'mount' });
    expect(uploadQuery(parse('digest=a&digest=b'))).toEqual({ ok: false, param: 'digest' });
  });
});
