// The labels docker compose puts on what it makes: how `ps`, `down` and a second `up` find a
// project's containers, networks and volumes again (no state file of our own to lose or corrupt).
export const LABEL = {
  project: 'com.docker.compose.project',
  service: 'com.docker.compose.service',
  number: 'com.docker.compose.container-number',
  oneoff: 'com.docker.compose.oneoff',
  configHash: 'com.docker.compose.config-hash',
  workingDir: 'com.docker.compose.project.working_dir',
  configFiles: 'com.docker.compose.project.config_files',
  network: 'com.docker.compose.network',
  volume: 'com.docker.compose.volume',
  dependsOn: 'com.docker.compose.depends_on',
} as const;

/** What a compose container's labels say about it; undefined for a container of no project. */
export interface ComposeLabels {
  project: string;
  service: string;
  number: number;
  oneoff: boolean;
  configHash?: string;
}

export function readLabels(labels: Record<string, string> | undefined): ComposeLabels | undefined {
  const project = labels?.[LABEL.project];
  const service = labels?.[LABEL.service];
  if (!project || !service) return undefined;
  const n = Number(labels[LABEL.number]);
  return {
    project,
    service,
    number: Number.isInteger(n) && n > 0 ? n : 0,
    oneoff: labels[LABEL.oneoff] === 'True',
    ...(labels[LABEL.configHash] ? { configHash: labels[LABEL.configHash] } : {}),
  };
}
