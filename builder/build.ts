// `stevedore build`: runs a Dockerfile's plan on the engine — base images from the local store
// (pulled when missing), RUN in runc containers on overlay workspaces, COPY/ADD written without a
// container, every layer step looked up in the build cache first — and records the result in the
// store as an image (config with Docker's history, OCI manifest, gzip layers).
import { KindedError } from '../util/errors.js';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Client } from '../client/index.js';
import { formatPlatform, hostPlatform, parsePlatform } from '../client/platform.js';
import type { Platform } from '../oci/descriptor.js';
import { lookupImage } from '../engine/image-lookup.js';
import type { BindMount } from '../engine/bundle/spec.js';
import { resolveInRootfs } from '../engine/bundle/rootfs-path.js';
import { resolveUserInRootfs } from '../engine/bundle/user.js';
import type { ImageRecord, ImageStore } from '../engine/store/image-store.js';
import type { Digest } from '../oci/index.js';
import { BuildCache, nextKey, type CacheEntry } from './build-cache.js';
import { ContextDigestCache } from './context-cache.js';
import { cleanSource, copyParents, copySources, CopyStepError, download, excludedSource, hashSources, resolveParents, resolveSources, type ParentsSource, type Source, type SourceRoot } from './copy-step.js';
import { expand, expandWords, keyValues } from './dockerfile/expand.js';
import { parseDockerfile, type Dockerfile, type Instruction } from './dockerfile/parser.js';
import { DockerIgnore } from './dockerfile/patterns.js';
import { applyMetadata, DEFAULT_SHELL, envMap, type ContainerConfig, type HistoryEntry, type ImageConfigJson } from './image-config.js';
import { chainOf, commitPlanned, commitWorkspace, type BuiltLayer } from './layer/commit.js';
import { PlannedLayer } from './layer/planned-layer.js';
import type { LayerCompression } from './layer/upper-diff.js';
import { Workspace } from './layer/workspace.js';
import { storeImage } from './store-image.js';
import { findStage, makePlan, stageDependencies, stagesFor, type Plan, type Stage } from './plan.js';
import { orderedLanes, type Progress, type Vertex } from './progress.js';
import { cacheMountDir, parseMount, type MountSpec } from './run-mounts.js';
import { killRunning, runStep } from './run-step.js';
import { limiter } from '../util/limit.js';

/** What a build was asked to do: kind `invalid` (util/errors.ts). */
export class BuildError extends KindedError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'BuildError';
  }
}

export interface BuildOptions {
  /** The engine root (store, snapshots, runc state, build cache). */
  root: string;
  store: ImageStore;
  contextDir: string;
  ignore?: DockerIgnore;
  dockerfileText: string;
  dockerfileName: string;
  /** Normalised names for the result. */
  tags: string[];
  buildArgs: Map<string, string>;
  target?: string;
  platform?: string;
  labels: Record<string, string>;
  noCache: boolean;
  pull: boolean;
  network: 'host' | 'none';
  /** --secret id → file. */
  secrets: Map<string, string>;
  /** SOURCE_DATE_EPOCH. */
  epoch?: number;
  /** How new layers are compressed (base image layers stay as they are). Default gzip. */
  compression?: LayerCompression;
  progress: Progress;
  client: () => Promise<Client>;
}

export interface BuildResult {
  id: Digest;
  manifest: Digest;
  record: ImageRecord;
  config: ImageConfigJson;
  /** Build args given but never declared. */
  unusedArgs: string[];
}

interface StageResult {
  layers: BuiltLayer[];
  config: ContainerConfig;
  history: HistoryEntry[];
  author?: string;
  platform: Platform;
  key: string;
}

/** Args any build may pass without declaring them (Docker's predefined proxy args). */
const PROXY_ARGS = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy'];

function platformArgs(target: Platform, build: Platform): Map<string, string> {
  return new Map([
    ['TARGETPLATFORM', formatPlatform(target)],
    ['TARGETOS', target.os],
    ['TARGETARCH', target.architecture],
    ['TARGETVARIANT', target.variant ?? ''],
    ['BUILDPLATFORM', formatPlatform(build)],
    ['BUILDOS', build.os],
    ['BUILDARCH', build.architecture],
    ['BUILDVARIANT', build.variant ?? ''],
  ]);
}

/**
 * Stages built at once when they do not depend on each other. Most of a stage's time is runc and
 * the disk, not this process; a few at once overlap those without crowding a small machine.
 */
const STAGE_CONCURRENCY = 3;

const flagOf = (ins: Instruction, name: string) => ins.flags.find((f) => f.name === name)?.value;

/** Steps that get a progress line of their own (BuildKit's vertices). */
const VERTEX = new Set(['RUN', 'COPY', 'ADD', 'WORKDIR']);

export class Builder {
  private readonly cache: BuildCache;
  private readonly tmpRoot: string;
  private readonly results = new Map<Stage, StageResult>();
  private readonly usedArgs = new Set<string>();
  private readonly df: Dockerfile;
  private readonly plan: Plan;
  private readonly targetPlatform: Platform;
  private readonly builtins: Map<string, string>;
  private readonly created: string;
  private client?: Promise<Client>;
  /** The first failure of a stage: the other stages stop at their next step. */
  private failed?: { err: unknown };
  /** Base images by reference: stages built at once that name the same image look it up (or pull it) once. */
  private readonly images = new Map<string, Promise<{ record: ImageRecord; config: ImageConfigJson }>>();
  /** Digests of context files by their stat, loaded on the first COPY/ADD from the context. */
  private contextDigests?: Promise<ContextDigestCache>;

  constructor(private readonly o: BuildOptions) {
    this.cache = new BuildCache(o.root, o.store);
    this.tmpRoot = join(o.root, 'builder', 'tmp');
    this.df = parseDockerfile(o.dockerfileText, o.dockerfileName);
    const host = hostPlatform();
    try {
      this.targetPlatform = o.platform ? parsePlatform(o.platform) : host;
    } catch (err) {
      throw new BuildError((err as Error).message);
    }
    this.builtins = platformArgs(this.targetPlatform, host);
    this.plan = makePlan(this.df, o.buildArgs, this.builtins, o.dockerfileName);
    this.created = o.epoch !== undefined ? new Date(o.epoch * 1000).toISOString().replace('.000Z', 'Z') : new Date().toISOString();
    for (const a of this.plan.metaArgs) if (o.buildArgs.has(a.key)) this.usedArgs.add(a.key);
  }

  async run(): Promise<BuildResult> {
    const stages = stagesFor(this.plan, this.o.target);
    const host = hostPlatform();
    for (const s of stages) {
      const p = this.stagePlatform(s);
      if (p.os === host.os && p.architecture === host.architecture) continue;
      if (!s.instructions.some((i) => i.cmd === 'RUN')) continue;
      const what = s.platform ? `FROM --platform=${s.platform}` : `--platform ${formatPlatform(p)}`;
      throw new BuildError(`${what}: this host is ${formatPlatform(host)} and RUN steps would need emulation, which stevedore build does not do; build on a ${formatPlatform(p)} machine`);
    }
    if (this.df.syntax) this.o.progress.note(`[Note] # syntax=${this.df.syntax} is ignored: stevedore build has its own Dockerfile frontend (syntax 1.x)`);
    await mkdir(this.tmpRoot, { recursive: true, mode: 0o700 });
    const lease = await this.o.store.lease();
    try {
      await this.buildStages(stages);
      const last = this.results.get(stages[stages.length - 1]!)!;
      const result = await this.writeImage(last);
      result.unusedArgs = [...this.o.buildArgs.keys()].filter((k) => !this.usedArgs.has(k) && !PROXY_ARGS.includes(k));
      return result;
    } finally {
      // Digests stay valid whatever happened to the build: kept for the next one (best effort).
      await (await this.contextDigests)?.save().catch(() => undefined);
      await Workspace.removeAll();
      await lease.release();
      await (await this.client?.catch(() => undefined))?.close();
    }
  }

  /**
   * Builds the stages, each as soon as the stages it needs are built, at most STAGE_CONCURRENCY at
   * once. Each stage writes its progress through a lane of its own, so the log shows the stages
   * in order whatever ran when. The first failure stops the rest (their containers are killed)
   * and is what the build fails with.
   */
  private async buildStages(stages: Stage[]): Promise<void> {
    const lanes = orderedLanes(this.o.progress);
    const slot = limiter(STAGE_CONCURRENCY);
    const built = new Map<Stage, Promise<void>>();
    const fail = (err: unknown) => {
      if (this.failed) return;
      this.failed = { err };
      lanes.flushAll();
      void killRunning();
    };
    for (const s of stages) {
      const lane = lanes.lane();
      const deps = stageDependencies(this.plan, s).map((d) => built.get(d)!);
      built.set(
        s,
        (async () => {
          await Promise.all(deps);
          await slot(async () => {
            if (this.failed) throw this.failed.err;
            try {
              this.results.set(s, await this.buildStage(s, lane));
            } catch (err) {
              fail(err); // before the slot goes to a waiting stage
              throw err;
            }
          });
          lane.finish();
        })().catch((err: unknown) => {
          fail(err);
          throw err;
        }),
      );
    }
    await Promise.allSettled(built.values());
    if (this.failed) throw this.failed.err;
  }

  /** A stage's platform: FROM --platform (after substitution, e.g. $BUILDPLATFORM), else the build's. */
  private stagePlatform(stage: Stage): Platform {
    if (!stage.platform) return this.targetPlatform;
    try {
      return parsePlatform(stage.platform);
    } catch (err) {
      throw new BuildError(`FROM --platform=${stage.platform}: ${(err as Error).message}`);
    }
  }

  private getClient(): Promise<Client> {
    this.client ??= this.o.client();
    return this.client;
  }

  /** A base image (FROM, COPY --from, --mount from=): the local store first, else pulled. */
  private image(ref: string, v?: Vertex, platform = this.targetPlatform): Promise<{ record: ImageRecord; config: ImageConfigJson }> {
    const memo = `${formatPlatform(platform)} ${ref}`;
    let found = this.images.get(memo);
    if (!found) {
      found = this.findImage(ref, v, platform);
      this.images.set(memo, found);
    }
    return found;
  }

  private async findImage(ref: string, v: Vertex | undefined, platform: Platform): Promise<{ record: ImageRecord; config: ImageConfigJson }> {
    let found = this.o.pull ? undefined : lookupImage(await this.o.store.state(), ref);
    if (!found) {
      const { pullImage, pullEventLines } = await import('../engine/image-pull.js');
      const pulled = await pullImage(this.o.store, await this.getClient(), ref, { platform, onEvent: v && pullEventLines((l) => v.output(l)) }).catch((err: Error) => {
        throw new BuildError(`${ref}: ${err.message}`);
      });
      found = { record: pulled.record };
    }
    const record = found.record;
    const config = JSON.parse((await this.o.store.content.readBytes(record.config)).toString('utf8')) as ImageConfigJson;
    await this.ensureSnapshots(record.layers.map((desc, i) => ({ desc, diffId: record.diffIds[i]!, chainId: record.chainIds[i]! })));
    return { record, config };
  }

  /** Makes sure each layer's snapshot is there (a pruned one is unpacked again from its blob). */
  private async ensureSnapshots(layers: BuiltLayer[]): Promise<void> {
    for (const [i, l] of layers.entries()) {
      if (await this.o.store.snapshots.has(l.chainId)) continue;
      const lowers = async () => layers.slice(0, i).map((x) => this.o.store.snapshots.fsDir(x.chainId));
      await this.o.store.snapshots.ensure(l.chainId, l.diffId, this.o.store.content.path(l.desc.digest), { lowers });
    }
  }

  private layerDirs(layers: BuiltLayer[]): string[] {
    return layers.map((l) => this.o.store.snapshots.fsDir(l.chainId));
  }

  /** A read-only view of a stage's or an image's files, for COPY --from and --mount from=. */
  private async mountFrom(ref: string, before: number): Promise<{ root: string; key: string; ws: Workspace }> {
    const stage = findStage(this.plan, ref, before);
    let layers: BuiltLayer[];
    let key: string;
    if (stage) {
      const r = this.results.get(stage);
      if (!r) throw new BuildError(`stage ${ref} was not built`);
      layers = r.layers;
      key = r.key;
    } else {
      const { record } = await this.image(ref);
      layers = record.layers.map((desc, i) => ({ desc, diffId: record.diffIds[i]!, chainId: record.chainIds[i]! }));
      key = record.config;
    }
    await this.ensureSnapshots(layers);
    const ws = await Workspace.mount(this.tmpRoot, this.layerDirs(layers));
    return { root: ws.rootfs, key, ws };
  }

  /** The cache key part of a `--from` source without mounting it. */
  private async fromKey(ref: string, before: number): Promise<string> {
    const stage = findStage(this.plan, ref, before);
    if (stage) return this.results.get(stage)?.key ?? '';
    return (await this.image(ref)).record.config;
  }

  private async buildStage(stage: Stage, progress: Progress): Promise<StageResult> {
    const multi = this.plan.stages.length > 1;
    const label = stage.name ?? (multi ? `stage-${stage.index}` : '');
    const onbuildCount = 0;
    const total = 1 + stage.instructions.filter((i) => VERTEX.has(i.cmd)).length + onbuildCount;
    let step = 1;
    const title = (text: string) => `[${label ? `${label} ` : ''}${step}/${total}] ${text}`;

    // FROM
    let st: StageResult;
    const baseStage = findStage(this.plan, stage.base, stage.index);
    let triggers: string[] = [];
    if (baseStage) {
      const v = progress.vertex(title(`FROM ${stage.base}`));
      const r = this.results.get(baseStage)!;
      st = { ...structuredClone(r), key: r.key };
      v.done();
    } else if (stage.base.toLowerCase() === 'scratch') {
      const platform = this.stagePlatform(stage);
      st = { layers: [], config: {}, history: [], platform, key: nextKey('from', 'scratch', formatPlatform(platform)) };
    } else {
      const v = progress.vertex(title(`FROM ${stage.base}`));
      const { record, config } = await this.image(stage.base, v, this.stagePlatform(stage));
      st = {
        layers: record.layers.map((desc, i) => ({ desc, diffId: record.diffIds[i]!, chainId: record.chainIds[i]! })),
        config: structuredClone(config.config ?? {}),
        history: config.history ?? [],
        platform: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) },
        key: nextKey('from', record.config),
      };
      triggers = config.config?.OnBuild ?? [];
      v.done();
    }
    step++;
    const meta = { config: st.config, cmdSet: false, author: st.author };
    // Triggers of the base run first; the new image does not pass them on.
    if (triggers.length) delete st.config.OnBuild;
    if (st.config.OnBuild === null) delete st.config.OnBuild;
    const stageArgs = new Map<string, string>();
    const instructions = [...triggers.map((t) => ({ ...parseDockerfile(t, `${stage.base} ONBUILD`).instructions[0]!, onbuild: true })), ...stage.instructions];
    for (const ins of instructions) {
      if (this.failed) throw this.failed.err;
      const vars = new Map([...stageArgs, ...envMap(st.config.Env)]);
      const esc = this.df.escape;
      const argsText = [...stageArgs].map(([k, v]) => `${k}=${v}`).sort().join(' ');
      if (ins.cmd === 'ARG') {
        for (const kv of keyValues(ins.args, vars, esc, { allowBare: true })) {
          let value = this.o.buildArgs.get(kv.key);
          if (value !== undefined) this.usedArgs.add(kv.key);
          value ??= kv.value;
          if (value === undefined) {
            const globalArg = this.plan.metaArgs.find((a) => a.key === kv.key);
            value = globalArg ? (this.o.buildArgs.get(kv.key) ?? globalArg.value) : this.builtins.get(kv.key);
          }
          if (value !== undefined) stageArgs.set(kv.key, value);
          st.key = nextKey(st.key, 'ARG', kv.key, value ?? '\0unset');
        }
        continue;
      }
      if (!VERTEX.has(ins.cmd)) {
        const createdBy = applyMetadata(meta, ins, vars, esc);
        st.history.push({ created: this.created, created_by: createdBy, comment: 'buildkit.dockerfile.v0', empty_layer: true });
        st.key = nextKey(st.key, ins.cmd, createdBy);
        continue;
      }
      const v = progress.vertex(title(ins.original.replace(/\s+/g, ' ')));
      step++;
      try {
        if (ins.cmd === 'WORKDIR') {
          const dir = expand(ins.args.trim(), vars, esc);
          const path = posix.normalize(dir.startsWith('/') ? dir : posix.join(st.config.WorkingDir || '/', dir));
          st.config.WorkingDir = path;
          await this.layerStep(st, v, nextKey(st.key, 'WORKDIR', path), `WORKDIR ${path}`, async (ws) => {
            await mkdir(await resolveInRootfs(ws.rootfs, path), { recursive: true, mode: 0o755 });
          });
        } else if (ins.cmd === 'RUN') {
          await this.runInstruction(stage, st, ins, v, stageArgs, argsText);
        } else {
          await this.copyInstruction(stage, st, ins, v, vars, argsText);
        }
      } catch (err) {
        v.error((err as Error).message);
        throw Object.assign(err as Error, { step: title(ins.original).replace(/^\[[^\]]*\] /, ''), stepTitle: `[${label ? `${label} ` : ''}${step - 1}/${total}] ${ins.original}` });
      }
    }
    st.author = meta.author;
    return st;
  }

  /**
   * A step that makes a layer: from the cache, else `work` in a workspace, committed. A `planned`
   * step (COPY/ADD) does not write through the workspace: it plans tar entries (the workspace is
   * its read-only view of the layers below), written straight into the layer blob.
   */
  private async layerStep(st: StageResult, v: Vertex, key: string, createdBy: string, work: (ws: Workspace, layer: PlannedLayer) => Promise<void>, how: 'overlay' | 'planned' = 'overlay'): Promise<void> {
    const parent = st.layers[st.layers.length - 1]?.chainId;
    // A layer compressed otherwise is another blob of the same diff: kept under a key of its own,
    // while the chain of keys (st.key) stays the same whatever the compression.
    const entryKey = this.o.compression && this.o.compression !== 'gzip' ? nextKey(key, 'compression', this.o.compression) : key;
    let entry: CacheEntry | undefined = this.o.noCache ? undefined : await this.cache.get(entryKey);
    if (entry) {
      v.cached();
    } else {
      await this.ensureSnapshots(st.layers);
      const ws = await Workspace.mount(this.tmpRoot, this.layerDirs(st.layers));
      const layer = new PlannedLayer(ws.rootfs, Math.floor(Date.now() / 1000), this.o.epoch);
      let built: BuiltLayer | undefined;
      try {
        await work(ws, layer);
      } catch (err) {
        await ws.remove();
        throw err;
      }
      const compression = this.o.compression ?? 'gzip';
      built = how === 'planned' ? await commitPlanned(this.o.store, ws, await layer.entries(), parent, { compression }) : await commitWorkspace(this.o.store, ws, parent, { epoch: this.o.epoch, compression });
      entry = built ? { layer: { desc: built.desc, diffId: built.diffId } } : {};
      await this.cache.put(entryKey, entry);
      v.done();
    }
    // The layer's snapshot is made when a later step or a container needs it (ensureSnapshots):
    // the last step's layer, or a cached one, is never unpacked for nothing.
    if (entry.layer) st.layers.push({ ...entry.layer, chainId: chainOf(parent, entry.layer.diffId) });
    st.history.push({ created: this.created, created_by: createdBy, comment: 'buildkit.dockerfile.v0', ...(entry.layer ? {} : { empty_layer: true }) });
    st.key = key;
  }

  private async runInstruction(stage: Stage, st: StageResult, ins: Instruction, v: Vertex, stageArgs: Map<string, string>, argsText: string): Promise<void> {
    const shell = st.config.Shell ?? DEFAULT_SHELL;
    let args: string[];
    const heredocScript = ins.heredocs.length === 1 && /^<<-?(["']?)[A-Za-z_][A-Za-z0-9_]*\1\s*$/.test(ins.args.trim());
    if (ins.json) args = ins.json;
    else if (heredocScript) args = [...shell, ins.heredocs[0]!.content];
    else if (ins.heredocs.length) args = [...shell, `${ins.args}\n${ins.heredocs.map((h) => `${h.content}${h.name}\n`).join('')}`];
    else args = [...shell, ins.args];
    let network = this.o.network;
    const mounts: MountSpec[] = [];
    for (const f of ins.flags) {
      if (f.name === 'network') {
        if (f.value !== 'host' && f.value !== 'none' && f.value !== 'default') throw new BuildError(`RUN --network=${f.value}: host, none or default`);
        if (f.value !== 'default') network = f.value;
      } else if (f.name === 'mount') {
        mounts.push(parseMount(expand(f.value, new Map([...stageArgs, ...envMap(st.config.Env)]), this.df.escape), st.config.WorkingDir ?? '/'));
      } else if (f.name !== 'security') {
        throw new BuildError(`RUN: unknown flag --${f.name}`);
      }
    }
    const argEnv = [...stageArgs].map(([k, val]) => `${k}=${val}`);
    for (const p of PROXY_ARGS) if (this.o.buildArgs.has(p) && !stageArgs.has(p)) argEnv.push(`${p}=${this.o.buildArgs.get(p)}`);
    const visible = [...stageArgs].map(([k, val]) => `${k}=${val}`);
    const createdBy = `RUN ${visible.length ? `|${visible.length} ${visible.join(' ')} ` : ''}${args.join(' ')} # buildkit`;
    const mountKeys: string[] = [];
    for (const m of mounts) {
      if (m.type === 'bind') mountKeys.push(`bind ${m.target} ${m.from ? await this.fromKey(m.from, stage.index) : 'context'} ${m.source ?? ''}`);
      else mountKeys.push(`${m.type} ${m.target} ${m.id ?? ''}`);
    }
    const key = nextKey(st.key, 'RUN', JSON.stringify(args), network, argsText, argEnv.join('\0'), ...mountKeys);
    await this.layerStep(st, v, key, createdBy, async (ws) => {
      const binds: BindMount[] = [];
      for (const m of mounts) {
        if (m.type === 'cache') {
          binds.push({ source: await cacheMountDir(this.o.root, m), destination: m.target, readOnly: m.readOnly });
        } else if (m.type === 'secret') {
          const file = this.o.secrets.get(m.id!);
          if (!file) {
            if (m.required) throw new BuildError(`secret ${m.id} is required but was not given (--secret id=${m.id},src=FILE)`);
            continue;
          }
          binds.push({ source: file, destination: m.target, readOnly: true });
        } else if (m.type === 'bind') {
          let root = this.o.contextDir;
          if (m.from) root = (await this.mountFrom(m.from, stage.index)).root;
          const src = await resolveInRootfs(root, cleanSource(m.source ?? '/'));
          binds.push({ source: src, destination: m.target, readOnly: true });
        } else {
          const dir = join(ws.dir, `tmpfs-${binds.length}`);
          await mkdir(dir);
          binds.push({ source: dir, destination: m.target, readOnly: false });
        }
      }
      await runStep(this.o.root, ws, {
        args,
        argEnv,
        imageEnv: st.config.Env ?? [],
        user: st.config.User ?? '',
        workdir: st.config.WorkingDir || '/',
        network,
        binds,
        onOutput: (l) => v.output(l),
      });
    });
  }

  private async copyInstruction(stage: Stage, st: StageResult, ins: Instruction, v: Vertex, vars: Map<string, string>, argsText: string): Promise<void> {
    const esc = this.df.escape;
    const isAdd = ins.cmd === 'ADD';
    let from: string | undefined;
    let chown: string | undefined;
    let chmodText: string | undefined;
    let checksum: string | undefined;
    const excludes: string[] = [];
    let parents = false;
    for (const f of ins.flags) {
      const val = expand(f.value, vars, esc);
      if (f.name === 'from') from = val;
      else if (f.name === 'chown') chown = val;
      else if (f.name === 'chmod') chmodText = val;
      else if (f.name === 'checksum' && isAdd) checksum = val;
      else if (f.name === 'exclude') {
        if (val === '') throw new BuildError(`${ins.cmd} --exclude needs a pattern (--exclude=PATTERN)`);
        excludes.push(val);
      } else if (f.name === 'parents' && !isAdd) {
        if (!['', 'true', 'false'].includes(val)) throw new BuildError(`COPY --parents=${val}: true or false`);
        parents = val !== 'false';
      } else if (f.name === 'link') continue;
      else throw new BuildError(`${ins.cmd}: unknown flag --${f.name}`);
    }
    // --exclude: .dockerignore's pattern rules, matched against each source (its path after a
    // --parents pivot) and against the paths inside a copied directory (relative to it).
    const exclude = excludes.length ? new DockerIgnore(excludes) : undefined;
    const resolve = (root: SourceRoot, p: string): Promise<(Source | ParentsSource)[]> => (parents ? resolveParents(root, p) : resolveSources(root, p));
    let chmod: number | undefined;
    if (chmodText !== undefined) {
      if (!/^[0-7]{3,4}$/.test(chmodText)) throw new BuildError(`${ins.cmd} --chmod=${chmodText}: an octal mode like 755 is expected`);
      chmod = parseInt(chmodText, 8);
    }
    let words = ins.json ? ins.json.map((w) => expand(w, vars, esc)) : expandWords(ins.args, vars, esc);
    const heredocs = new Map(ins.heredocs.map((h) => [h.name, h]));
    if (words.length < 2) throw new BuildError(`${ins.cmd} requires at least two arguments: SOURCE... DEST`);
    let dest = words[words.length - 1]!;
    words = words.slice(0, -1);
    {
      const dirLike = dest.endsWith('/') || dest === '.' || dest.endsWith('/.');
      dest = posix.normalize(dest.startsWith('/') ? dest : posix.join(st.config.WorkingDir || '/', dest)).replace(/\/+$/, '');
      if (dirLike) dest = `${dest}/`;
      if (dest === '') dest = '/';
    }
    const flagsText = ins.flags.map((f) => `--${f.name}=${expand(f.value, vars, esc)} `).join('');
    const createdBy = `${ins.cmd} ${flagsText}${[...words, dest].join(' ')} # buildkit`;
    if (words.length > 1 && !dest.endsWith('/')) throw new BuildError(`When using ${ins.cmd} with more than one source file, the destination must be a directory and end with a /`);

    // Sources: heredocs, URLs (ADD), the context, or another stage/image.
    const heredocWords = words.filter((w) => /^<<-?["']?[A-Za-z_]/.test(w));
    const urls = isAdd ? words.filter((w) => /^https?:\/\//.test(w)) : [];
    const paths = words.filter((w) => !heredocWords.includes(w) && !urls.includes(w));
    let sourceKey: string;
    let contextSources: (Source | ParentsSource)[] = [];
    const ctxRoot: SourceRoot = { kind: 'context', dir: this.o.contextDir, ...(this.o.ignore ? { ignore: this.o.ignore } : {}) };
    if (from) {
      sourceKey = `from ${await this.fromKey(from, stage.index)} ${paths.join('\0')}`;
    } else {
      for (const p of paths) {
        const found = await resolve(ctxRoot, p);
        if (found.length === 0) throw new CopyStepError(`${ins.cmd} failed: no source files were specified (nothing matches ${JSON.stringify(p)})`);
        contextSources.push(...found.filter((s) => !excludedSource(s, exclude)));
      }
      // A context from standard input is unpacked afresh into the builder's temporary directory each time: nothing to remember.
      const fromStdin = this.o.contextDir.startsWith(`${this.tmpRoot}/`);
      this.contextDigests ??= fromStdin ? Promise.resolve(ContextDigestCache.memory()) : ContextDigestCache.open(this.o.root, this.o.contextDir);
      sourceKey = `context ${await hashSources(ctxRoot, contextSources, await this.contextDigests, exclude)}`;
    }
    const docs = heredocWords.map((w) => {
      const name = w.replace(/^<<-?["']?/, '').replace(/["']$/, '');
      const h = heredocs.get(name);
      if (!h) throw new BuildError(`${ins.cmd}: heredoc ${name} has no body`);
      // Only variables are expanded in a heredoc body: quotes and escapes stay as written.
      return { name, content: h.expand ? expand(h.content.replace(/["']|\\(?!\$)/g, (c) => esc + c), vars, esc) : h.content };
    });
    if (checksum !== undefined && !/^sha256:[a-f0-9]{64}$/.test(checksum)) throw new BuildError(`ADD --checksum=${checksum}: sha256:<64 hex digits> expected`);
    if (checksum !== undefined && urls.length === 0) throw new BuildError('ADD --checksum needs an http(s) URL source');
    // A URL's content is part of the key: with --checksum that is the checksum (nothing to fetch
    // when cached); without, the file is fetched now, so a changed file is a cache miss.
    const fetched = new Map<string, { file: string; mtime?: Date; digest: string }>();
    const fetchDir = urls.length ? join(this.tmpRoot, `add-${randomUUID()}`) : undefined;
    const mounted: Workspace[] = [];
    const fetchUrl = async (u: string, i: number) => {
      let got = fetched.get(u);
      if (!got) {
        await mkdir(fetchDir!, { recursive: true, mode: 0o700 });
        const file = join(fetchDir!, String(i));
        const r = await download(u, file, checksum);
        got = { file, digest: r.digest, ...(r.mtime ? { mtime: r.mtime } : {}) };
        fetched.set(u, got);
      }
      return got;
    };
    try {
      const urlKeys = checksum !== undefined ? urls.map((u) => `${u} ${checksum}`) : await Promise.all(urls.map(async (u, i) => `${u} ${(await fetchUrl(u, i)).digest}`));
      const key = nextKey(st.key, ins.cmd, createdBy, argsText, sourceKey, JSON.stringify(docs), urlKeys.join('\0'));
      const total = paths.length + docs.length + urls.length;
      const destIsDir = dest.endsWith('/') || total > 1 || contextSources.length > paths.length || parents;
      await this.layerStep(
        st,
        v,
        key,
        createdBy,
        async (ws, layer) => {
          let owner: { uid: number; gid: number } | undefined;
          if (chown !== undefined) {
            const [u = '', g] = chown.split(':');
            const resolved = await resolveUserInRootfs(ws.rootfs, g === undefined ? u : `${u}:${g}`).catch((err: Error) => {
              throw new BuildError(`${ins.cmd} --chown=${chown}: ${err.message}`);
            });
            owner = { uid: resolved.uid, gid: g === undefined ? (/^\d+$/.test(u) ? resolved.uid : resolved.gid) : resolved.gid };
          }
          const opts = { ...(owner ? { chown: owner } : {}), ...(chmod !== undefined ? { chmod } : {}), ...(exclude ? { exclude } : {}), extract: isAdd };
          const target = destIsDir && !dest.endsWith('/') ? `${dest}/` : dest;
          if (from) {
            // Mounted until the layer is written: its files are read then.
            const src = await this.mountFrom(from, stage.index);
            mounted.push(src.ws);
            const root: SourceRoot = { kind: 'rootfs', dir: src.root };
            const sources: (Source | ParentsSource)[] = [];
            for (const p of paths) {
              const found = await resolve(root, p);
              if (found.length === 0) throw new CopyStepError(`${ins.cmd} failed: no source files were specified (nothing matches ${JSON.stringify(p)} in ${from})`);
              sources.push(...found.filter((s) => !excludedSource(s, exclude)));
            }
            if (parents) await copyParents(root, sources as ParentsSource[], target, layer, { ...opts, extract: false });
            else await copySources(root, sources, sources.length > 1 && !target.endsWith('/') ? `${target}/` : target, layer, ws.dir, { ...opts, extract: false });
          } else if (parents) {
            await copyParents(ctxRoot, contextSources as ParentsSource[], target, layer, opts);
          } else if (contextSources.length) {
            await copySources(ctxRoot, contextSources, target, layer, ws.dir, opts);
          }
          if (docs.length || urls.length) {
            const scratch = join(ws.dir, 'inline');
            await mkdir(scratch, { recursive: true });
            const root: SourceRoot = { kind: 'context', dir: scratch };
            for (const d of docs) {
              const rel = d.name;
              await writeFile(join(scratch, rel), d.content, { mode: 0o644 });
              await copySources(root, [{ rel, host: join(scratch, rel), isDir: false }], target, layer, ws.dir, { ...opts, extract: false });
            }
            for (const [i, u] of urls.entries()) {
              const rel = posix.basename(new URL(u).pathname) || 'index.html';
              const file = join(scratch, rel);
              const got = await fetchUrl(u, i);
              await rename(got.file, file);
              fetched.delete(u);
              // Docker's rules: mode 0600 unless --chmod, the mtime from Last-Modified when there is one.
              if (got.mtime) await utimes(file, got.mtime, got.mtime);
              await copySources(root, [{ rel, host: file, isDir: false }], target, layer, ws.dir, { ...opts, extract: false, ...(opts.chmod === undefined ? { chmod: 0o600 } : {}) });
            }
          }
        },
        'planned',
      );
    } finally {
      for (const m of mounted) await m.remove();
      if (fetchDir) await rm(fetchDir, { recursive: true, force: true });
    }
  }

  private async writeImage(st: StageResult): Promise<BuildResult> {
    const store = this.o.store;
    // A rebuild with nothing changed is the image the last build wrote (as docker's is): no new
    // config with a new creation time, no new id, no dangling image left behind per rebuild.
    const imageKey = nextKey(st.key, 'image', JSON.stringify(this.o.labels), this.o.compression ?? 'gzip', this.o.epoch === undefined ? '' : this.created);
    const previous = this.o.noCache ? undefined : (await this.cache.get(imageKey))?.image;
    const state = previous ? await store.state() : undefined;
    const same = previous && state?.images[previous];
    if (same && same.layers.length === st.layers.length && same.layers.every((l, i) => l.digest === st.layers[i]!.desc.digest) && (await store.content.has(same.config))) {
      const doc = JSON.parse((await store.content.readBytes(same.config)).toString('utf8')) as ImageConfigJson;
      // Names already on it (the usual rebuild): nothing to write, no durable state write to wait for.
      if (!this.o.tags.every((name) => state!.refs[name]?.target === same.manifest && state!.refs[name]?.manifest === same.manifest)) {
        await store.update((s) => {
          if (!s.images[same.manifest]) s.images[same.manifest] = same;
          for (const name of this.o.tags) s.refs[name] = { target: same.manifest, manifest: same.manifest };
        });
      }
      return { id: same.config, manifest: same.manifest, record: same, config: doc, unusedArgs: [] };
    }
    const config = structuredClone(st.config);
    if (Object.keys(this.o.labels).length) config.Labels = { ...(config.Labels ?? {}), ...this.o.labels };
    const img = await storeImage(store, {
      platform: st.platform,
      ...(st.author ? { author: st.author } : {}),
      created: this.created,
      config,
      layers: st.layers,
      history: st.history,
      tags: this.o.tags,
    });
    const manifest = img.manifest;
    await this.cache.put(imageKey, { image: manifest });
    return { id: img.configDesc.digest, manifest, record: img.record, config: img.config, unusedArgs: [] };
  }
}

/** Reads the Dockerfile: `-f` (relative to the working directory, as docker does) or CONTEXT/Dockerfile. */
export async function readDockerfile(contextDir: string, file?: string): Promise<{ text: string; name: string }> {
  const path = file ?? join(contextDir, 'Dockerfile');
  try {
    return { text: await readFile(path, 'utf8'), name: file ?? 'Dockerfile' };
  } catch (err) {
    throw new BuildError(`failed to read ${file ?? 'Dockerfile'}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}
