import { describe, expect, it } from 'vitest';
import { parseDockerfile } from './dockerfile/parser.js';
import { makePlan, PlanError, stagesFor } from './plan.js';

const df = parseDockerfile(`ARG BASE=busybox
ARG TAG
FROM \${BASE}:\${TAG:-latest} AS deps
RUN make deps
FROM scratch AS unused
COPY x /x
FROM deps AS build
COPY --from=0 /a /b
FROM alpine
RUN --mount=type=bind,from=build,target=/src true
COPY --from=build /out /out
`);

describe('makePlan', () => {
  it('splits stages and substitutes global ARGs (with build args) in FROM', () => {
    const plan = makePlan(df, new Map([['TAG', '1.2']]), new Map());
    expect(plan.stages.map((s) => [s.index, s.name, s.base])).toEqual([
      [0, 'deps', 'busybox:1.2'],
      [1, 'unused', 'scratch'],
      [2, 'build', 'deps'],
      [3, undefined, 'alpine'],
    ]);
    expect(plan.metaArgs).toEqual([{ key: 'BASE', value: 'busybox' }, { key: 'TAG' }]);
    expect(makePlan(df, new Map(), new Map()).stages[0]!.base).toBe('busybox:latest');
  });

  it('builds only what the target needs, dependencies first', () => {
    const plan = makePlan(df, new Map(), new Map());
    expect(stagesFor(plan).map((s) => s.index)).toEqual([0, 2, 3]);
    expect(stagesFor(plan, 'BUILD').map((s) => s.index)).toEqual([0, 2]);
    expect(stagesFor(plan, 'unused').map((s) => s.index)).toEqual([1]);
    expect(() => stagesFor(plan, 'nope')).toThrow(PlanError);
  });

  it('refuses instructions before FROM other than ARG, and bad stage names', () => {
    expect(() => makePlan(parseDockerfile('RUN x\nFROM a'), new Map(), new Map())).toThrow(/Dockerfile:1:1: RUN before the first FROM/);
    expect(() => makePlan(parseDockerfile('FROM a AS 1x'), new Map(), new Map())).toThrow(/invalid name for build stage/);
    expect(() => makePlan(parseDockerfile('FROM a AS x\nFROM b AS X'), new Map(), new Map())).toThrow(/duplicate stage name/);
  });
});
