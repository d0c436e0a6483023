import { describe, expect, it } from 'vitest';
import { configHash, containerSpec, engineWarnings } from './container-spec.js';
import { projectOf } from './test-project.js';

const { project } = projectOf(`
services:
  web:
    image: web:1
    entrypoint: ["/bin/sh", "-ec"]
    command: echo "hi there"
    environment: { MODE: prod }
    ports: ["127.0.0.1:8080:80", "9000-9001:90-91/udp", "3000"]
    volumes: ["data:/data:ro", "./conf:/etc/conf", "/scratch"]
    tmpfs: [/run:size=1m]
    networks:
      front: { aliases: [www] }
      back: { ipv4_address: 10.99.0.7 }
    deploy:
      replicas: 3
      resources: { limits: { cpus: "0.5", memory: 64m, pids: 40 } }
      restart_policy: { condition: on-failure, max_attempts: 4, delay: 5s }
    healthcheck: { test: ["CMD", "nc", "-z", "localhost", "80"], interval: 2s, retries: 5 }
    stop_signal: SIGINT
    stop_grace_period: 1m30s
    cap_add: [NET_ADMIN]
    extra_hosts: ["db:10.0.0.5"]
  solo:
    image: solo:1
    container_name: the-solo
    restart: unless-stopped
    network_mode: host
    healthcheck: { disable: true }
networks:
  front: {}
  back: {}
volumes:
  data: {}
`);

describe('containerSpec', () => {
  it('maps a service onto what run would be given, with the compose labels', () => {
    const spec = containerSpec(project, project.services.web!, 2);
    expect(spec.name).toBe('demo-web-2');
    expect(spec.image).toBe('web:1');
    const c = spec.create;
    expect([c.entrypoint, ...c.cmd]).toEqual(['/bin/sh', '-ec', 'echo', 'hi there']);
    expect(c.env).toEqual(['MODE=prod']);
    expect(c.networking).toMatchObject({
      mode: 'bridge',
      networks: ['demo_front', 'demo_back'],
      aliases: ['web', 'www'],
      ports: [
        { hostIP: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
        { hostIP: '', hostPort: 9000, containerPort: 90, protocol: 'udp' },
        { hostIP: '', hostPort: 9001, containerPort: 91, protocol: 'udp' },
        { hostIP: '', hostPort: 0, containerPort: 3000, protocol: 'tcp' },
      ],
      addHosts: ['db:10.0.0.5'],
      endpoints: { demo_back: { aliases: ['web'], ip: '10.99.0.7' } },
    });
    expect(c.mounts).toEqual([
      { type: 'volume', name: 'demo_data', destination: '/data', readOnly: true, noCopy: false },
      { type: 'bind', source: `${project.workingDir}/conf`, destination: '/etc/conf', readOnly: false, create: true },
      { type: 'volume', destination: '/scratch', readOnly: false, noCopy: false },
      { type: 'tmpfs', destination: '/run', options: ['size=1m'] },
    ]);
    expect(c.resources).toEqual({ cpus: 0.5, memory: 64 * 1024 * 1024, pidsLimit: 40 });
    expect(c.restart).toEqual({ name: 'on-failure', maxRetries: 4 });
    expect(c.health).toEqual({ healthCmd: 'nc -z localhost 80', healthInterval: '2s', healthRetries: '5' });
    expect(c.detached).toBe(true);
    expect(c.labels).toMatchObject({
      'com.docker.compose.project': 'demo',
      'com.docker.compose.service': 'web',
      'com.docker.compose.container-number': '2',
      'com.docker.compose.oneoff': 'False',
      'com.docker.compose.config-hash': configHash(project.services.web!),
    });
    expect(spec.stopSignal).toBe('SIGINT');
    expect(spec.stopTimeoutSeconds).toBe(90);
  });

  it('passes cap_add and cap_drop to the container', () => {
    expect(containerSpec(project, project.services.web!, 1).create.capAdd).toEqual(['NET_ADMIN']);
  });

  it('warns once per attribute the engine cannot honour', () => {
    expect(engineWarnings(project, project.services.web!)).toEqual([
      "services.web.deploy.restart_policy: delay and window are not supported (docker's backoff is used)",
      'services.web.ports: a fixed host port can be published by one replica only; the others will fail to start',
    ]);
  });

  it('container_name, network_mode host, restart and a disabled health check', () => {
    const c = containerSpec(project, project.services.solo!, 1);
    expect(c.name).toBe('the-solo');
    expect(c.create.network).toBe('host');
    expect(c.create.networking).toBeUndefined();
    expect(c.create.restart).toEqual({ name: 'unless-stopped' });
    expect(c.create.health).toEqual({ healthcheck: false });
  });

  it('a one-off container: its own name and command, no published ports, no restart', () => {
    const c = containerSpec(project, project.services.web!, 1, { oneoff: { name: 'demo-web-run-1', command: ['date'] } });
    expect(c.name).toBe('demo-web-run-1');
    expect([c.create.entrypoint, ...c.create.cmd]).toEqual(['/bin/sh', '-ec', 'date']);
    expect(c.create.networking?.ports).toEqual([]);
    expect(c.create.restart).toBeUndefined();
    expect(c.create.labels?.['com.docker.compose.oneoff']).toBe('True');
  });

  it('the config hash ignores the replica count and changes with the environment', () => {
    const web = project.services.web!;
    expect(configHash({ ...web, replicas: 7 })).toBe(configHash(web));
    expect(configHash({ ...web, environment: { MODE: 'dev' } })).not.toBe(configHash(web));
  });
});

describe('secrets and configs', () => {
  it('file sources are read-only binds where compose puts them; other sources are warned about', () => {
    const { project: p } = projectOf(`
services:
  app:
    image: app:1
    secrets: [token, { source: other, target: custom }]
    configs: [{ source: conf, target: /etc/app.conf }, env]
secrets:
  token: { file: ./token.txt }
  other: { file: /abs/other }
configs:
  conf: { file: ./app.conf }
  env: { environment: HOME }
`);
    const c = containerSpec(p, p.services.app!, 1).create;
    expect(c.mounts).toEqual([
      { type: 'bind', source: `${p.workingDir}/token.txt`, destination: '/run/secrets/token', readOnly: true, create: false },
      { type: 'bind', source: '/abs/other', destination: '/run/secrets/custom', readOnly: true, create: false },
      { type: 'bind', source: `${p.workingDir}/app.conf`, destination: '/etc/app.conf', readOnly: true, create: false },
    ]);
    expect(engineWarnings(p, p.services.app!)).toEqual(['services.app.configs: env: only file sources are supported, ignored']);
  });
});
