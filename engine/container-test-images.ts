// An ImageProvider over a JSON file of LocalImages keyed by reference, for the container tests
// (STEVEDORE_TEST_IMAGES=FILE) while the engine's image store is developed separately. It never
// pulls.
import { readFile } from 'node:fs/promises';
import type { ImageProvider, LocalImage } from './local-image.js';

export function jsonImageProvider(file: string): ImageProvider {
  let images: Promise<Record<string, LocalImage>> | undefined;
  const load = () => (images ??= readFile(file, 'utf8').then((t) => JSON.parse(t) as Record<string, LocalImage>));
  return {
    async find(ref) {
      const all = await load();
      return all[ref] ?? Object.values(all).find((i) => i.configDigest === ref || i.configDigest.slice(7).startsWith(ref));
    },
    async pull(ref) {
      throw new Error(`image ${ref} not found in ${file} (this test provider does not pull)`);
    },
  };
}

/** Until the image store is wired in: finds nothing, pulls nothing. */
export const noImageProvider: ImageProvider = {
  async find() {
    return undefined;
  },
  async pull(ref) {
    throw new Error(`image ${ref} is not in the local store, and pulling into it is not available in this build`);
  },
};
