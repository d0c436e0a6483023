// The list of repositories: directories under /repositories that hold layout markers.
import { isNotFound, type StorageDriver } from './driver.js';
import { layout, REPOSITORY_MARKERS } from './layout.js';
import { compareCodePoints } from './manifest-store.js';

export class RepositoryCatalog {
  constructor(private readonly driver: StorageDriver) {}

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
