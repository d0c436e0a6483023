// Suites that spawn the CLI run dist/: compile it first when any source is newer than the last
// build, so a test never runs code other than what it reads (a no-op when dist/ is fresh).
import { buildIfStale } from '../scripts/build-if-stale.mjs';

export default async function setup(): Promise<void> {
  await buildIfStale();
}
