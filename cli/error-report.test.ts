import { describe, expect, it } from 'vitest';
import { ClientError, RegistryResponseError } from '../client/errors.js';
import { ContentMismatchError } from '../util/errors.js';
import { errorReport, EXIT_FAILURE, usageLine } from './error-report.js';

describe('errorReport', () => {
  it('prints a kinded error as its message and hint on one line', () => {
    const err = new ClientError('GET http://127.0.0.1:1/v2/: ECONNREFUSED', { kind: 'unavailable', hint: 'the registry is not answering at 127.0.0.1:1' });
    expect(errorReport(err)).toEqual({ line: 'GET http://127.0.0.1:1/v2/: ECONNREFUSED: the registry is not answering at 127.0.0.1:1', code: EXIT_FAILURE });
  });

  it('keeps every diagnostic a registry sent', () => {
    const err = new RegistryResponseError('PUT', 'http://r/v2/a/manifests/v1', 400, 'MANIFEST_INVALID', 'bad', [
      { code: 'MANIFEST_INVALID', message: 'bad' },
      { code: 'BLOB_UNKNOWN', message: 'blob unknown to registry' },
    ]);
    expect(errorReport(err).line).toBe('PUT http://r/v2/a/manifests/v1: 400 MANIFEST_INVALID: bad; BLOB_UNKNOWN: blob unknown to registry');
    expect(err.kind).toBe('invalid');
  });

  it('prints only the first line, and names the class of an error without a kind', () => {
    expect(errorReport(new ContentMismatchError('blob is corrupt\nmore')).line).toBe('blob is corrupt');
    expect(errorReport(new TypeError('x is undefined')).line).toBe('TypeError: x is undefined');
    expect(errorReport(new TypeError('x is undefined'), { plain: true }).line).toBe('x is undefined');
  });
});

describe('usageLine', () => {
  it('makes commander\'s message one line with the --help hint', () => {
    expect(usageLine("error: unknown option '--plain'\n(Did you mean --plain-http?)\n", 'stevedore pull')).toBe(
      "unknown option '--plain' (Did you mean --plain-http?); see 'stevedore pull --help'",
    );
  });
});

describe('containerCommandStatus (run, exec)', () => {
  it("follows docker: the runtime's 127 and 126, else 125", async () => {
    const { containerCommandStatus } = await import('./error-report.js');
    const { RuntimeError } = await import('../engine/runtime/runtime-errors.js');
    expect(containerCommandStatus(new RuntimeError('exec: "x": executable file not found in $PATH', 'command-not-found'))).toBe(127);
    expect(containerCommandStatus(new RuntimeError('exec: "/etc/passwd": permission denied', 'command-not-invokable'))).toBe(126);
    expect(containerCommandStatus(new RuntimeError('container not running', 'runtime'))).toBe(125);
    expect(containerCommandStatus(new Error('no such container: x'))).toBe(125);
    expect(containerCommandStatus({ exitStatus: 3 })).toBe(125); // only the two docker reserves
  });
});

describe('kinds of the engine and storage errors', () => {
  it('each names what went wrong, so the CLI prints it without a class name', async () => {
    const { kindOf } = await import('../util/errors.js');
    const { ContainerNotFoundError } = await import('../engine/containers/container-store.js');
    const { UsageError } = await import('../engine/containers/run-options.js');
    const { UserError } = await import('../engine/bundle/user.js');
    const { PathNotFoundError, InvalidPathError } = await import('../storage/driver.js');
    const { DigestMismatchError, UploadUnknownError, UploadOffsetError } = await import('../storage/upload-store.js');
    expect(kindOf(new ContainerNotFoundError('no such container: x'))).toBe('not-found');
    expect(kindOf(new UsageError('invalid --tail x'))).toBe('invalid');
    expect(kindOf(new UserError('unable to find user x'))).toBe('not-found');
    expect(kindOf(new PathNotFoundError('/a', 'filesystem'))).toBe('not-found');
    expect(kindOf(new InvalidPathError('../a'))).toBe('invalid');
    expect(kindOf(new UploadUnknownError('u'))).toBe('not-found');
    expect(kindOf(new UploadOffsetError(1, 2))).toBe('invalid');
    expect(kindOf(new DigestMismatchError('sha256:a' as never, 'sha256:b' as never))).toBe('corrupt');
    expect(errorReport(new ContainerNotFoundError('no such container: x'))).toEqual({ line: 'no such container: x', code: EXIT_FAILURE });
  });
});
