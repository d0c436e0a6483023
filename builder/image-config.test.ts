import { describe, expect, it } from 'vitest';
import { parseDockerfile } from './dockerfile/parser.js';
import { applyMetadata, parseDuration, type MetadataState } from './image-config.js';

function apply(lines: string, state: MetadataState = { config: {}, cmdSet: false }, vars = new Map<string, string>()): { state: MetadataState; history: string[] } {
  const history = parseDockerfile(lines).instructions.map((i) => applyMetadata(state, i, vars, '\\'));
  return { state, history };
}

describe('applyMetadata', () => {
  it('ENV: both forms; a multi-assign line uses the values from before it', () => {
    const { state, history } = apply('ENV A=1\nENV B $V\nENV A=2 C=$A', undefined, new Map([['V', 'vee'], ['A', 'old']]));
    expect(state.config.Env).toEqual(['B=vee', 'A=2', 'C=old']);
    expect(history).toEqual(['ENV A=1', 'ENV B=vee', 'ENV A=2 C=old']);
  });
  it('LABEL, EXPOSE (ranges, protocols), VOLUME (both forms), USER, STOPSIGNAL, MAINTAINER', () => {
    const { state, history } = apply('LABEL a=1 "b c"="d e"\nEXPOSE 80 53/udp 8000-8001\nVOLUME ["/a", "/b"]\nVOLUME /c /d\nUSER bob:staff\nSTOPSIGNAL SIGKILL\nMAINTAINER Me <me@x>');
    expect(state.config.Labels).toEqual({ a: '1', 'b c': 'd e' });
    expect(Object.keys(state.config.ExposedPorts!)).toEqual(['80/tcp', '53/udp', '8000/tcp', '8001/tcp']);
    expect(Object.keys(state.config.Volumes!)).toEqual(['/a', '/b', '/c', '/d']);
    expect(state.config.User).toBe('bob:staff');
    expect(state.config.StopSignal).toBe('SIGKILL');
    expect(state.author).toBe('Me <me@x>');
    expect(history[1]).toBe('EXPOSE map[80/tcp:{} 53/udp:{} 8000/tcp:{} 8001/tcp:{}]');
  });
  it('CMD/ENTRYPOINT: shell forms through SHELL; ENTRYPOINT resets an inherited CMD only', () => {
    const inherited = apply('ENTRYPOINT ["/e"]', { config: { Cmd: ['base'] }, cmdSet: false }).state;
    expect(inherited.config.Cmd).toBeNull();
    const own = apply('SHELL ["/bin/bash", "-xc"]\nCMD echo hi\nENTRYPOINT run it').state;
    expect(own.config.Cmd).toEqual(['/bin/bash', '-xc', 'echo hi']);
    expect(own.config.Entrypoint).toEqual(['/bin/bash', '-xc', 'run it']);
    expect(() => apply('SHELL /bin/sh')).toThrow(/JSON form/);
  });
  it('HEALTHCHECK with options, exec form, and NONE', () => {
    const { state } = apply('HEALTHCHECK --interval=5s --timeout=1m30s --retries=3 CMD curl -f http://x/');
    expect(state.config.Healthcheck).toEqual({ Test: ['CMD-SHELL', 'curl -f http://x/'], Interval: 5e9, Timeout: 90e9, Retries: 3 });
    expect(apply('HEALTHCHECK CMD ["/bin/check", "a"]').state.config.Healthcheck).toEqual({ Test: ['CMD', '/bin/check', 'a'] });
    expect(apply('HEALTHCHECK NONE').state.config.Healthcheck).toEqual({ Test: ['NONE'] });
  });
  it('ONBUILD records the trigger; chaining and FROM are refused', () => {
    expect(apply('ONBUILD RUN echo hi\nONBUILD COPY . /app').state.config.OnBuild).toEqual(['RUN echo hi', 'COPY . /app']);
    expect(() => apply('ONBUILD ONBUILD RUN x')).toThrow(/isn't allowed/);
  });
  it('parses Go durations', () => {
    expect(parseDuration('1h2m3.5s')).toBe(3723.5e9);
    expect(parseDuration('250ms')).toBe(250e6);
    expect(() => parseDuration('5')).toThrow(/invalid duration/);
  });
});
