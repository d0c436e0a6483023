import { describe, expect, it } from 'vitest';
import { digestOf } from './digest.js';
import { familiarReference, formatReference, InvalidReferenceError, parseReference, parseRepositoryReference } from './reference.js';

const D = digestOf('x');

describe('parseReference (Docker normalisation)', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest'],
    ['user/app:v1', 'docker.io/user/app:v1'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/app', 'localhost:5000/app:latest'],
    ['127.0.0.1:5000/ns/app:t', '127.0.0.1:5000/ns/app:t'],
    ['[::1]:5000/app', '[::1]:5000/app:latest'],
    ['ghcr.io/org/team/app:2.0', 'ghcr.io/org/team/app:2.0'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    [`host:5000/app:tag@${D}`, `host:5000/app:tag@${D}`],
    ['Registry.Example.com/app', 'Registry.Example.com/app:latest'],
  ])('%s → %s', (input, expected) => {
    expect(formatReference(parseReference(input))).toBe(expected);
  });

  it('can leave the tag off', () => {
    expect(parseReference('busybox', { defaultTag: false }).tag).toBeUndefined();
  });

  it('gives the familiar form back', () => {
    expect(familiarReference(parseReference('docker.io/library/busybox'))).toBe('busybox:latest');
    expect(familiarReference(parseReference('localhost:5000/a/b:c'))).toBe('localhost:5000/a/b:c');
  });

  it.each([
    ['', 'empty'],
    ['Busybox', 'lowercase'],
    ['Foo/bar', 'lowercase'],
    ['busybox:', 'invalid tag'],
    ['busybox:-bad', 'invalid tag'],
    ['busybox@sha256:abc', 'sha256 needs'],
    ['host:5000/', 'missing repository|invalid repository'],
    ['a//b', 'invalid repository name'],
    ['bad_host.com:port/x', 'invalid registry host|invalid tag'],
    [`${'a'.repeat(256)}`, 'longer than'],
  ])('rejects %j', (input, message) => {
    expect(() => parseReference(input)).toThrow(InvalidReferenceError);
    expect(() => parseReference(input)).toThrow(new RegExp(message));
  });
});

describe('parseRepositoryReference', () => {
  const digest = `sha256:${'a'.repeat(64)}`;

  it('splits a repository-local name from its tag or digest, without adding a host or library/', () => {
    expect(parseRepositoryReference('dockerhub/library/busybox:1.36')).toEqual({ repository: 'dockerhub/library/busybox', tag: '1.36' });
    expect(parseRepositoryReference('busybox')).toEqual({ repository: 'busybox', tag: 'latest' });
    expect(parseRepositoryReference('busybox', { defaultTag: false })).toEqual({ repository: 'busybox' });
    expect(parseRepositoryReference(`a/b@${digest}`)).toEqual({ repository: 'a/b', digest });
    expect(parseRepositoryReference(`a/b:v1@${digest}`)).toEqual({ repository: 'a/b', tag: 'v1', digest });
  });

  it('refuses what a registry could not name', () => {
    expect(() => parseRepositoryReference('Upper/case:v1')).toThrow(InvalidReferenceError);
    expect(() => parseRepositoryReference('a/b:bad tag')).toThrow(/invalid tag/);
    expect(() => parseRepositoryReference('a/b@sha256:short')).toThrow(InvalidReferenceError);
    expect(() => parseRepositoryReference(':v1')).toThrow(/missing repository name/);
  });
});
