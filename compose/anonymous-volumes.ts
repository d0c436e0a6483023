// docker compose keeps a recreated container's anonymous volumes: the replacement mounts the same
// volumes where the old one had them (a database's VOLUME survives an edited environment), unless
// `up --renew-anon-volumes` asks for fresh ones. Pure: the old container's mounts in, the new
// container's mount requests out.
import type { ResolvedMount } from '../engine/containers/container-mounts.js';
import type { MountRequest } from '../engine/volumes/mount-options.js';

/**
 * The new container's requests with the old container's anonymous volumes carried over: an
 * anonymous request at the same path takes the old volume; a path no request covers (an image
 * VOLUME) gets it as an explicit request, so no new anonymous volume is made there. Named volumes,
 * binds and tmpfs mounts asked for at a path win over what the old container had.
 */
export function carryAnonymousVolumes(requests: MountRequest[], old: ResolvedMount[]): MountRequest[] {
  const out = requests.map((r) => ({ ...r }));
  for (const m of old) {
    if (m.type !== 'volume' || !m.anonymous || !m.name) continue;
    const at = out.find((r) => r.destination === m.destination);
    if (!at) out.push({ type: 'volume', name: m.name, destination: m.destination, readOnly: false, noCopy: true });
    else if (at.type === 'volume' && at.name === undefined) at.name = m.name;
  }
  return out;
}
