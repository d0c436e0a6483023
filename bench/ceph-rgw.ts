// A real S3 server for the tests and the S3 benchmark: Ceph's RADOS Gateway (Debian's `radosgw`, `ceph-mon`,
// `ceph-osd`) as a throw-away single-node cluster on loopback. One monitor, one OSD (memstore:
// data in RAM, fastest start; or bluestore on a sparse file for big blobs), no manager, no auth
// inside the cluster, one RGW user. Everything lives in a temp directory; every daemon runs in the
// foreground as our child and is stopped by PID (also when the test process exits abruptly).
//
// Start order: monmap → mon mkfs → mon → `ceph osd new` → osd mkfs → osd → `radosgw-admin user
// create` (creates the RGW pools, so it returns only once the OSD serves I/O) → radosgw, then the
// HTTP port is polled until it answers. No step waits for a fixed time.
//
// It lives in bench/ (built into dist/bench with the benchmark, which must not import from test/);
// test/helpers/ceph-rgw.ts re-exports it for the test suites.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

export interface CephRgwOptions {
  /** `memstore` (default): fastest start, object data in RAM. `bluestore`: a sparse file on disk. */
  store?: 'memstore' | 'bluestore';
  /** Capacity of the OSD (memstore RAM bound or bluestore file size). Default 2 GiB / 16 GiB. */
  storeBytes?: number;
  /** Give up if the cluster is not serving S3 within this long (default 90 s). */
  startTimeoutMs?: number;
  /** Where the cluster's temp directory is created (default the OS temp directory). */
  baseDir?: string;
}

export interface CephRgw {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  dir: string;
  /** An SDK client with the settings RGW needs (path style, checksums only when required). */
  client(): S3Client;
  createBucket(name?: string): Promise<string>;
  /** Stops only the gateway (the cluster keeps its data): for fault tests. */
  stopGateway(): Promise<void>;
  /** Starts the gateway again on the same port and waits until it answers. */
  startGateway(): Promise<void>;
  /** PIDs of the running daemons (monitor, OSD, gateway): CPU accounting in the benchmark. */
  pids(): number[];
  /** Stops every daemon and removes the temp directory. Safe to call twice. */
  stop(): Promise<void>;
}

export const CEPH_TOOLS = ['monmaptool', 'ceph-mon', 'ceph-osd', 'ceph', 'radosgw-admin', 'radosgw'] as const;

/** A free loopback port outside 6800-7300 (the range the OSD binds in). */
async function freePort(): Promise<number> {
  for (;;) {
    const srv = createServer();
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const { port } = srv.address() as AddressInfo;
    await new Promise<void>((r) => srv.close(() => r()));
    if (port < 6800 || port > 7300) return port;
  }
}

function cephConf(dir: string, fsid: string, monPort: number, rgwPort: number, store: 'memstore' | 'bluestore', storeBytes: number): string {
  const lines = [
    '[global]',
    `fsid = ${fsid}`,
    `mon_host = v2:127.0.0.1:${monPort}`,
    'public_addr = 127.0.0.1',
    'cluster_addr = 127.0.0.1',
    'auth_cluster_required = none',
    'auth_service_required = none',
    'auth_client_required = none',
    // radosgw defaults to a "secure" mon connection, which needs cephx: allow crc.
    'ms_mon_client_mode = crc',
    'keyring = /dev/null',
    'ms_bind_msgr1 = false',
    'mon_allow_pool_size_one = true',
    'osd_pool_default_size = 1',
    'osd_pool_default_min_size = 1',
    'osd_pool_default_pg_num = 8',
    'osd_pool_default_pgp_num = 8',
    'osd_pool_default_pg_autoscale_mode = off',
    'osd_crush_chooseleaf_type = 0',
    'paxos_propose_interval = 0.01',
    'mon_data_avail_warn = 1',
    'client_mount_timeout = 60',
    `run_dir = ${dir}/run`,
    `pid_file = ${dir}/run/$name.pid`,
    `log_file = ${dir}/log/$name.log`,
    `admin_socket = ${dir}/run/$name.asok`,
    `mon_data = ${dir}/mon/$name`,
    `osd_data = ${dir}/osd/$name`,
    'osd_memory_target = 939524096',
    'rgw_gc_obj_min_wait = 10',
    'rgw_gc_processor_period = 10',
  ];
  if (store === 'memstore') {
    lines.push('osd_objectstore = memstore', `memstore_device_bytes = ${storeBytes}`);
  } else {
    lines.push(
      'osd_objectstore = bluestore',
      'bluestore_block_create = true',
      `bluestore_block_size = ${storeBytes}`,
      'bluestore_block_db_create = false',
      'bluestore_block_wal_create = false',
      'bluestore_fsck_on_mkfs = false',
      'bluestore_fsck_on_mount = false',
      'bluestore_cache_size = 268435456',
    );
  }
  lines.push('', '[client.rgw.a]', `rgw_frontends = beast endpoint=127.0.0.1:${rgwPort}`, '');
  return lines.join('\n');
}

/** Runs a command to completion; rejects with its output when it fails or outlives `timeoutMs`. */
async function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${out.slice(-4000)}`);
    return out;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`${cmd} not found: install Debian packages ceph-mon, ceph-osd and radosgw`);
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

// Daemons still running when the process exits (a crashed test run) are killed synchronously.
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) if (c.pid && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

const stderrOf = new WeakMap<ChildProcess, () => string>();

function daemon(cmd: string, args: string[]): ChildProcess {
  // -f: foreground, logging to the configured log file; our child, so its PID is known.
  const child = spawn(cmd, [...args, '-f'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  child.on('error', () => undefined);
  live.add(child);
  child.once('exit', () => live.delete(child));
  stderrOf.set(child, () => err);
  return child;
}

async function stopProcess(child: ChildProcess | undefined, signal: NodeJS.Signals, graceMs = 10_000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Polls until the gateway answers HTTP (any status), failing early if the daemon exits. */
async function waitForHttp(url: string, child: ChildProcess, deadline: number, what: string, logFile: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      const stderr = stderrOf.get(child)?.() ?? '';
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before serving:\n${stderr}\n${log.slice(-3000)}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      return;
    } catch {
      if (Date.now() > deadline) {
        const log = await readFile(logFile, 'utf8').catch(() => '');
        throw new Error(`${what} did not answer on ${url} in time:\n${log.slice(-3000)}`);
      }
      await delay(Math.min(50 * 2 ** attempt, 250)); // polling interval, not synchronisation
    }
  }
}

export async function startCephRgw(opts: CephRgwOptions = {}): Promise<CephRgw> {
  const store = opts.store ?? 'memstore';
  const storeBytes = opts.storeBytes ?? (store === 'memstore' ? 2 * 1024 ** 3 : 16 * 1024 ** 3);
  const deadline = Date.now() + (opts.startTimeoutMs ?? 90_000);
  const left = () => Math.max(deadline - Date.now(), 1000);
  const dir = await mkdtemp(join(opts.baseDir ?? tmpdir(), 'stevedore-ceph-'));
  const conf = join(dir, 'ceph.conf');
  const accessKeyId = `AK${randomBytes(9).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(24).toString('base64url');
  let mon: ChildProcess | undefined;
  let osd: ChildProcess | undefined;
  let rgw: ChildProcess | undefined;
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      await stopProcess(rgw, 'SIGTERM');
      // A memstore OSD would first write all its data to disk on SIGTERM: kill it.
      await stopProcess(osd, store === 'memstore' ? 'SIGKILL' : 'SIGTERM');
      await stopProcess(mon, 'SIGTERM');
      await rm(dir, { recursive: true, force: true });
    })());
  try {
    const monPort = await freePort();
    let rgwPort = await freePort();
    const fsid = randomUUID();
    for (const d of ['run', 'log', 'mon/mon.a', 'osd/osd.0']) await mkdir(join(dir, d), { recursive: true });
    await writeFile(conf, cephConf(dir, fsid, monPort, rgwPort, store, storeBytes));
    const c = ['-c', conf];
    await run('monmaptool', [...c, '--create', '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, '--fsid', fsid, join(dir, 'monmap')], left());
    await run('ceph-mon', [...c, '--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap')], left());
    mon = daemon('ceph-mon', [...c, '-i', 'a']);
    // The CLI connects (retrying) until the monitor serves; its answer is the new OSD's id.
    const osdUuid = randomUUID();
    const osdId = (await run('ceph', [...c, '--connect-timeout', String(Math.ceil(left() / 1000)), 'osd', 'new', osdUuid], left())).trim();
    if (osdId !== '0') throw new Error(`unexpected OSD id ${JSON.stringify(osdId)}`);
    await run('ceph-osd', [...c, '-i', '0', '--mkfs', '--osd-uuid', osdUuid], left());
    osd = daemon('ceph-osd', [...c, '-i', '0']);
    // Creates the RGW pools and the user: completes only once the OSD serves I/O.
    await run(
      'radosgw-admin',
      [...c, 'user', 'create', '--uid=stevedore-test', '--display-name=stevedore-test', `--access-key=${accessKeyId}`, `--secret-key=${secretAccessKey}`],
      left(),
    );
    let endpoint = `http://127.0.0.1:${rgwPort}`;
    const startGateway = async (until: number) => {
      rgw = daemon('radosgw', [...c, '-n', 'client.rgw.a']);
      await waitForHttp(`${endpoint}/`, rgw, until, 'radosgw', join(dir, 'log', 'client.rgw.a.log'));
    };
    // The gateway's port was free when chosen, seconds ago: an outgoing connection of the daemons
    // (ephemeral ports come from the same range) may have taken it since. Then take another.
    for (let attempt = 1; ; attempt++) {
      try {
        await startGateway(deadline);
        break;
      } catch (err) {
        if (attempt >= 5 || !/Address already in use/.test((err as Error).message)) throw err;
        rgwPort = await freePort();
        endpoint = `http://127.0.0.1:${rgwPort}`;
        await rm(join(dir, 'log', 'client.rgw.a.log'), { force: true });
        await writeFile(conf, cephConf(dir, fsid, monPort, rgwPort, store, storeBytes));
      }
    }
    const region = 'us-east-1';
    const client = () =>
      new S3Client({
        endpoint,
        region,
        forcePathStyle: true,
        credentials: { accessKeyId, secretAccessKey },
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
    return {
      endpoint,
      region,
      accessKeyId,
      secretAccessKey,
      dir,
      client,
      async createBucket(name = `test-${randomBytes(6).toString('hex')}`) {
        const s3 = client();
        try {
          await s3.send(new CreateBucketCommand({ Bucket: name }));
        } finally {
          s3.destroy();
        }
        return name;
      },
      stopGateway: () => stopProcess(rgw, 'SIGTERM'),
      pids: () => [mon, osd, rgw].filter((c) => c?.pid && c.exitCode === null && c.signalCode === null).map((c) => c!.pid!),
      startGateway: () => startGateway(Date.now() + 60_000),
      stop,
    };
  } catch (err) {
    const logs: string[] = [];
    for (const name of ['mon.a', 'osd.0']) {
      const log = await readFile(join(dir, 'log', `${name}.log`), 'utf8').catch(() => '');
      if (log) logs.push(`--- ${name}.log (tail)\n${log.slice(-2000)}`);
    }
    await stop();
    if (logs.length) (err as Error).message += `\n${logs.join('\n')}`;
    throw err;
  }
}
