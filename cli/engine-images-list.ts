// What `stevedore images` does, in a module of its own: listing the local store is timed against
// `node -e 0` (bench/cli-start.ts), so it loads the store's reading side and the table, not the
// pull, push, archive and client code of the other image commands (engine-image-actions.ts); an
// empty store needs only its state file read.
import { readStoreState, type StoreState } from '../engine/store/store-state.js';
import { KindedError } from '../util/errors.js';
import { age, formatBytes, table } from './table.js';

export interface ListImagesFlags {
  quiet?: boolean;
  json?: boolean;
  filter?: string[];
  format?: string;
}

/** `reference=` patterns: docker's path.Match globs (`*` within a path component, `?`), on name and name:tag. */
function globMatch(pattern: string, text: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
  return re.test(text);
}

interface ImageRow {
  repository: string;
  tag: string;
  id: string;
  created?: string;
  size: number;
  digest: string;
  platform: string;
  labels: Record<string, string>;
}

/**
 * A row per name of each image (one for an image without a name), with its config's creation time
 * and labels and its layers' size. The store and the reference parser load here: only when the
 * store holds an image.
 */
async function imageRows(root: string, state: StoreState): Promise<{ rows: ImageRow[]; shortId: (id: string) => string }> {
  const [{ ImageStore }, { namesOf, shortId }, { familiarReference, parseReference }] = await Promise.all([
    import('../engine/store/image-store.js'),
    import('../engine/image-lookup.js'),
    import('../oci/reference.js'), // not the index
  ]);
  const splitName = (name: string): { repository: string; tag: string } => {
    const ref = parseReference(name, { defaultTag: false });
    const repo = familiarReference({ registry: ref.registry, repository: ref.repository });
    return { repository: repo, tag: ref.tag ?? '<none>' };
  };
  const store = new ImageStore(root);
  const rows: ImageRow[] = [];
  for (const img of Object.values(state.images)) {
    let created: string | undefined;
    let labels: Record<string, string> = {};
    try {
      const cfg = JSON.parse((await store.content.readBytes(img.config)).toString('utf8')) as { created?: string; config?: { Labels?: Record<string, string> | null } };
      created = cfg.created;
      labels = cfg.config?.Labels ?? {};
    } catch {
      created = undefined;
    }
    let size = 0;
    for (const c of img.chainIds) size += (await store.snapshots.info(c))?.size ?? 0;
    const names = namesOf(state, img.manifest).filter((n) => !n.includes('@'));
    const base = { id: img.config, created, size, digest: img.manifest, platform: img.platform, labels };
    if (names.length === 0) rows.push({ repository: '<none>', tag: '<none>', ...base });
    for (const n of names) rows.push({ ...splitName(n), ...base });
  }
  return { rows, shortId };
}

/** `images`: the images in the store under `root`, as a table, ids, JSON or a template. */
export async function listImages(root: string, flags: ListImagesFlags): Promise<void> {
  const state = await readStoreState(root);
  const { rows, shortId } = Object.keys(state.images).length ? await imageRows(root, state) : { rows: [] as ImageRow[], shortId: (id: string) => id };
  rows.sort((a, b) => (b.created ?? '').localeCompare(a.created ?? '') || a.repository.localeCompare(b.repository) || a.tag.localeCompare(b.tag));
  let shown = rows;
  for (const f of flags.filter ?? []) {
    const i = f.indexOf('=');
    if (i <= 0) throw new KindedError('invalid', `invalid --filter ${JSON.stringify(f)}: KEY=VALUE`);
    const [k, v] = [f.slice(0, i), f.slice(i + 1)];
    if (k === 'dangling') {
      if (v !== 'true' && v !== 'false') throw new KindedError('invalid', `invalid --filter dangling=${v}: true or false`);
      shown = shown.filter((r) => (r.repository === '<none>') === (v === 'true'));
    } else if (k === 'reference') {
      shown = shown.filter((r) => r.repository !== '<none>' && (globMatch(v, r.repository) || globMatch(v, `${r.repository}:${r.tag}`)));
    } else if (k === 'label') {
      const j = v.indexOf('=');
      shown = shown.filter((r) => (j < 0 ? v in r.labels : r.labels[v.slice(0, j)] === v.slice(j + 1)));
    } else throw new KindedError('invalid', `unsupported --filter ${k}: dangling, reference or label`);
  }
  if (flags.format !== undefined && flags.format !== 'json') {
    const { renderTemplate } = await import('./go-template.js');
    process.stdout.write(
      renderTemplate(
        flags.format,
        shown.map((r) => ({ Repository: r.repository, Tag: r.tag, ID: shortId(r.id), Digest: r.digest, CreatedAt: r.created ?? '', CreatedSince: r.created ? `${age(r.created)} ago` : 'N/A', Size: formatBytes(r.size), Platform: r.platform })),
      ),
    );
    return;
  }
  const json = flags.json || flags.format === 'json';
  rows.splice(0, rows.length, ...shown);
  if (json) {
    process.stdout.write(`${JSON.stringify(rows)}\n`);
  } else if (flags.quiet) {
    process.stdout.write([...new Set(rows.map((r) => shortId(r.id)))].map((i) => `${i}\n`).join(''));
  } else {
    process.stdout.write(table([['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'], ...rows.map((r) => [r.repository, r.tag, shortId(r.id), (r.created ? `${age(r.created)} ago` : 'N/A'), formatBytes(r.size)])]));
  }
}
