import { describe, expect, it } from 'vitest';
import { configHash } from './container-spec.js';
import { imageAction, planUp, selectedServices, stopOrder, type Existing } from './plan.js';
import { projectOf } from './test-project.js';

const { project } = projectOf(`
services:
  db:
    image: db:1
    healthcheck: { test: "true" }
  api:
    image: api:1
    depends_on: { db: { condition: service_healthy, restart: true } }
    deploy: { replicas: 2 }
  web:
    build: ./web
    depends_on: [api]
  tool:
    image: tool:1
`);

function existing(service: string, number: number, over: Partial<Existing> = {}): Existing {
  return { id: `${service}${number}`, name: `demo-${service}-${number}`, service, number, configHash: configHash(project.services[service]!), imageId: `img-${service}`, running: true, oneoff: false, ...over };
}
const images = { db: 'img-db', api: 'img-api', web: 'img-web', tool: 'img-tool' };
const kinds = (p: ReturnType<typeof planUp>) => Object.fromEntries(p.services.map((s) => [s.service, s.steps.map((x) => `${x.kind}${'number' in x ? x.number : ''}`)]));

describe('planUp', () => {
  it('creates every replica of every service, dependencies first', () => {
    const p = planUp(project, [], images);
    expect(p.services.map((s) => s.service)).toEqual(['db', 'api', 'tool', 'web']);
    expect(kinds(p)).toEqual({ db: ['create1'], api: ['create1', 'create2'], tool: ['create1'], web: ['create1'] });
  });

  it('touches nothing when everything runs as the model says (up twice is a no-op)', () => {
    const all = [existing('db', 1), existing('api', 1), existing('api', 2), existing('web', 1), existing('tool', 1)];
    expect(kinds(planUp(project, all, images))).toEqual({ db: ['keep1'], api: ['keep1', 'keep2'], tool: ['keep1'], web: ['keep1'] });
  });

  it('recreates only what changed; a dependant that asks (depends_on.restart) follows', () => {
    const all = [existing('db', 1, { configHash: 'old' }), existing('api', 1), existing('api', 2), existing('web', 1, { imageId: 'older' }), existing('tool', 1, { running: false })];
    const p = planUp(project, all, images);
    expect(kinds(p)).toEqual({ db: ['recreate1'], api: ['recreate1', 'recreate2'], tool: ['start1'], web: ['recreate1'] });
    const why = p.services.flatMap((s) => s.steps.map((x) => (x.kind === 'recreate' ? x.why : '')));
    expect(why).toEqual(['configuration changed', 'db was recreated', 'db was recreated', '', 'image changed']);
  });

  it('--scale adds and removes replicas by number; --force-recreate and --no-recreate', () => {
    const all = [existing('api', 1), existing('api', 2), existing('api', 3)];
    expect(kinds(planUp(project, all, images, { services: ['api'], noDeps: true, scale: { api: 1 } }))).toEqual({ api: ['remove', 'remove', 'keep1'] });
    expect(kinds(planUp(project, [existing('api', 2)], images, { services: ['api'], noDeps: true, scale: { api: 3 } }))).toEqual({ api: ['create1', 'keep2', 'create3'] });
    expect(kinds(planUp(project, [existing('tool', 1)], images, { services: ['tool'], forceRecreate: true }))).toEqual({ tool: ['recreate1'] });
    expect(kinds(planUp(project, [existing('tool', 1, { configHash: 'x' })], images, { services: ['tool'], noRecreate: true }))).toEqual({ tool: ['keep1'] });
    expect(() => planUp(project, [], images, { scale: { nope: 2 } })).toThrow('--scale nope: no such service');
  });

  it('names orphans: containers of services no longer in the file', () => {
    const p = planUp(project, [existing('tool', 1), { ...existing('tool', 1), id: 'x', service: 'gone', name: 'demo-gone-1' }], images, { services: ['tool'] });
    expect(p.orphans.map((o) => o.name)).toEqual(['demo-gone-1']);
  });
});

describe('selectedServices and stopOrder', () => {
  it('up SERVICE brings its dependencies unless --no-deps; an unknown service is an error', () => {
    expect(selectedServices(project, ['web'])).toEqual(['db', 'api', 'web']);
    expect(selectedServices(project, ['web'], true)).toEqual(['web']);
    expect(() => selectedServices(project, ['nope'])).toThrow('no such service: nope');
  });
  it('stops dependants before their dependencies, last replica first, orphans before all', () => {
    const all = [existing('db', 1), existing('api', 1), existing('api', 2), existing('web', 1), { ...existing('db', 1), id: 'o', service: 'gone', name: 'demo-gone-1' }];
    expect(stopOrder(project, all).map((c) => c.name)).toEqual(['demo-gone-1', 'demo-web-1', 'demo-api-2', 'demo-api-1', 'demo-db-1']);
  });
});

describe('imageAction', () => {
  it('builds a missing or --build image, pulls a missing one, uses what is there', () => {
    const web = project.services.web!;
    const db = project.services.db!;
    expect(imageAction(web, false)).toBe('build');
    expect(imageAction(web, true)).toBe('use');
    expect(imageAction(web, true, { build: true })).toBe('build');
    expect(() => imageAction(web, false, { noBuild: true })).toThrow(/not built and --no-build was given/);
    expect(imageAction(db, false)).toBe('pull');
    expect(imageAction(db, true)).toBe('use');
    expect(imageAction({ ...db, pull_policy: 'always' }, true)).toBe('pull');
    expect(() => imageAction({ ...db, pull_policy: 'never' }, false)).toThrow(/pull_policy: never/);
  });
});
