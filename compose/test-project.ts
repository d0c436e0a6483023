// Unit tests' projects: a compose file's text loaded through the real loader.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProject } from './load.js';
import type { Project } from './model.js';

export function projectOf(yaml: string, name = 'demo'): { project: Project; warnings: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'compose-unit-'));
  writeFileSync(join(dir, 'compose.yaml'), yaml);
  try {
    const { project, warnings } = loadProject({ workingDir: dir, projectName: name, environment: {} });
    return { project, warnings };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
