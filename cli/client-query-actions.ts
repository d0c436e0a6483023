// What the registry query commands do (tags, catalog, inspect, digest, delete): one or two
// requests each, so they load only the client itself, not the copy machinery (layouts, archives,
// mirrors, progress) that client-actions.ts uses. Their options are in client-commands.ts.
import type { Command } from 'commander';
import type { Client } from '../client/client.js';
import { ClientError } from '../client/errors.js';
import { parseLocation } from '../client/location-parse.js';
import { formatReference, namesRegistry, parseReference, referenceSelector, type ImageReference } from '../oci/reference.js'; // not the index: `tags` loads this
import { clientFrom, type ClientFlags } from './client-options.js';

async function withClient<T>(flags: ClientFlags, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await clientFrom(flags);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

export function registryRef(text: string, defaultTag = true): ImageReference {
  const loc = parseLocation(text);
  if (loc.kind !== 'registry') throw new ClientError(`${text}: a registry reference is needed here`);
  return defaultTag ? loc.ref : parseReference(text.replace(/^docker:\/\//, ''), { defaultTag: false });
}

/** `tags REPOSITORY`. */
export function tagsCommand(repo: string, flags: ClientFlags): Promise<void> {
  return withClient(flags, async (client) => {
    const ref = registryRef(repo, false);
    const tags = await client.registryClient(ref.registry).tags(ref.repository);
    process.stdout.write(flags.json ? `${JSON.stringify({ repository: `${ref.registry}/${ref.repository}`, tags })}\n` : tags.map((t) => `${t}\n`).join(''));
  });
}

/** `catalog REGISTRY`. */
export function catalogCommand(registry: string, flags: ClientFlags): Promise<void> {
  return withClient(flags, async (client) => {
    const host = registry.replace(/^docker:\/\//, '').replace(/\/+$/, '');
    if (!/^[A-Za-z0-9.\-[\]:]+$/.test(host)) throw new ClientError(`invalid registry ${JSON.stringify(registry)}`);
    const repos = await client.registryClient(host).catalog();
    process.stdout.write(flags.json ? `${JSON.stringify({ registry: host, repositories: repos })}\n` : repos.map((r) => `${r}\n`).join(''));
  });
}

/** `inspect REF`: like docker, a container of that name or id first, then a local image, then the registry. */
export async function inspectCommand(refText: string, flags: ClientFlags & { raw?: boolean }, cmd: Command): Promise<void> {
  if (!flags.raw) {
    try {
      const [{ inspectContainerAt }, { printLocalImageInspect }, { rootOf }] = await Promise.all([import('./engine-container-commands.js'), import('./engine-image-actions.js'), import('./engine-root.js')]);
      const container = await inspectContainerAt(rootOf(cmd), refText);
      if (container) {
        process.stdout.write(`${JSON.stringify([container], null, flags.json ? undefined : 2)}\n`);
        return;
      }
      if (await printLocalImageInspect(cmd, refText, !!flags.json)) return;
    } catch (err) {
      // A user who may not read the engine's state still inspects registry images.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EACCES' && code !== 'EPERM') throw err;
    }
    // A bare name that is no container and no local image is not looked up on Docker Hub
    // (docker's `inspect` says "no such object"): a remote image is asked for by naming its registry.
    if (!namesRegistry(refText)) {
      throw new ClientError(`no such container or image: ${refText}`, {
        kind: 'not-found',
        hint: `to inspect a registry image, name its registry (docker.io/${refText.includes('/') ? refText : `library/${refText}`}) or use --raw`,
      });
    }
  }
  return withClient(flags, async (client) => {
    const ref = registryRef(refText);
    const rc = client.registryClient(ref.registry);
    const m = await rc.getManifest(ref.repository, referenceSelector(ref));
    if (flags.raw) {
      process.stdout.write(m.bytes);
      return;
    }
    const parsed = (await import('../oci/manifest.js')).parseManifest(m.bytes, m.mediaType);
    let config: unknown;
    if (parsed.kind === 'image') {
      const stream = await rc.openBlob(ref.repository, parsed.document.config.digest);
      const chunks: Buffer[] = [];
      for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
      const text = Buffer.concat(chunks).toString('utf8');
      try {
        config = JSON.parse(text);
      } catch {
        config = undefined;
      }
    }
    const out = { name: formatReference(ref), digest: m.digest, mediaType: m.mediaType, manifest: parsed.document, config };
    process.stdout.write(`${JSON.stringify(out, null, flags.json ? undefined : 2)}\n`);
  });
}

/** `digest REF`. */
export function digestCommand(refText: string, flags: ClientFlags): Promise<void> {
  return withClient(flags, async (client) => {
    const ref = registryRef(refText);
    const rc = client.registryClient(ref.registry);
    const head = await rc.headManifest(ref.repository, referenceSelector(ref));
    const digest = head?.digest ?? (await rc.getManifest(ref.repository, referenceSelector(ref))).digest;
    process.stdout.write(`${digest}\n`);
  });
}

/** `delete REF`. */
export function deleteCommand(refText: string, flags: ClientFlags): Promise<void> {
  return withClient(flags, async (client) => {
    const ref = registryRef(refText, false);
    if (!ref.tag && !ref.digest) throw new ClientError(`${refText}: name a tag or a digest to delete`);
    await client.registryClient(ref.registry).deleteManifest(ref.repository, ref.digest ?? ref.tag!);
    if (!flags.quiet) process.stdout.write(`Deleted ${formatReference(ref)}\n`);
  });
}
