import { describe, expect, it } from 'vitest';
import { kindOf } from '../util/errors.js';
import { ClientError } from './errors.js';
import { looksLikePath, parseLocation } from './locations.js';

const none = () => false;
const all = () => true;

describe('parseLocation', () => {
  it('reads registry references, oci: layouts and docker archives', () => {
    expect(parseLocation('busybox', none)).toEqual({ kind: 'registry', ref: { registry: 'docker.io', repository: 'library/busybox', tag: 'latest' } });
    expect(parseLocation('oci:./out:v1', none)).toEqual({ kind: 'oci', dir: './out', tag: 'v1' });
    expect(parseLocation('docker-archive:x.tar', none)).toEqual({ kind: 'docker-archive', file: 'x.tar' });
  });

  it('refuses a path given where oci:DIR or docker-archive:FILE was meant, saying what to write', () => {
    for (const text of ['./out/image', '/tmp/Image', '../image', 'out/image']) {
      const err = (() => {
        try {
          parseLocation(text, all);
        } catch (e) {
          return e;
        }
      })();
      expect(err, text).toBeInstanceOf(ClientError);
      expect((err as Error).message).toBe(`${text} is a path, not an image reference`);
      expect((err as ClientError).hint).toBe(`for an OCI layout write oci:${text}, for a docker save archive docker-archive:${text}`);
      expect(kindOf(err)).toBe('invalid');
    }
  });
});

describe('looksLikePath', () => {
  it('treats path-shaped text as a path, and a name with a slash only when it exists', () => {
    expect(looksLikePath('./x', none)).toBe(true);
    expect(looksLikePath('/abs/dir', none)).toBe(true);
    expect(looksLikePath('~/dir', none)).toBe(true);
    expect(looksLikePath('team/app', none)).toBe(false);
    expect(looksLikePath('team/app', all)).toBe(true);
  });

  it('never takes a bare name or a reference with a registry host for a path', () => {
    expect(looksLikePath('busybox', all)).toBe(false);
    expect(looksLikePath('localhost:5000/team/app', all)).toBe(false);
    expect(looksLikePath('registry.example/app', all)).toBe(false);
    expect(looksLikePath('localhost/app', all)).toBe(false);
  });
});
