// The list of repositories. Every repository written to gets an entry under /catalog, so the
// catalog is one listing (one LIST request per 1,000 repositories on S3) rather than a walk of
// the whole /repositories tree; a store written before /catalog existed is walked instead.
import { isNotFound, type StorageDriver } from './driver.js';
import { layout, REPOSITORY_MARKERS } from './layout.js';
import { compareCodePoints } from './manifest-store.js';

export class RepositoryCatalog {
  /** Entries this process knows exist: written once per repository per process. */
  private readonly known = new Set<string>();

  constructor(private readonly driver: StorageDriver) {}

  /** Records that `name` exists (called before anything is written into the repository). */
  async note(name: string): Promise<void> {
    if (this.known.has(name)) return;
    await this.driver.putContent(layout.catalogEntry(name), Buffer.alloc(0));
    this.known.add(name);
  }

  async exists(name: string): Promise<boolean> {
    try {
      const children = await this.driver.list(layout.repository(name));
      return children.some((c) => REPOSITORY_MARKERS.includes(c.slice(c.lastIndexOf('/') + 1)));
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** All repository names in lexical order. */
  async list(): Promise<string[]> {
    try {
      const entries = await this.driver.list(layout.catalogRoot);
      return entries.map((e) => e.slice(e.lastIndexOf('/') + 1).replaceAll('+', '/')).sort(compareCodePoints);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    return this.walk();
  }

  /** Repositories found by walking /repositories (stores without a /catalog). */
  private async walk(): Promise<string[]> {
    const names: string[] = [];
    const walk = async (path: string, name: string): Promise<void> => {
      let children: string[];
      try {
        children = await this.driver.list(path);
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
      const base = children.map((c) => c.slice(c.lastIndexOf('/') + 1));
      if (name && base.some((b) => REPOSITORY_MARKERS.includes(b))) names.push(name);
      for (let i = 0; i < children.length; i++) {
        const b = base[i]!;
        if (b.startsWith('_')) continue;
        await walk(children[i]!, name ? `${name}/${b}` : b);
      }
    };
    await walk(layout.repositoriesRoot, '');
    return names.sort(compareCodePoints);
  }
}
