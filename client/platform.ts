// Platforms (`os/arch[/variant]`) and choosing an index entry for one, as Docker does.
// One platform type: oci's Platform (os, architecture, variant and the rest of image-index.md).
import type { Descriptor, Platform } from '../oci/index.js';

const NODE_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

export function hostPlatform(): Platform {
  const architecture = NODE_ARCH[process.arch] ?? process.arch;
  const p: Platform = { os: process.platform === 'win32' ? 'windows' : process.platform, architecture };
  if (architecture === 'arm64') p.variant = 'v8';
  if (architecture === 'arm') p.variant = `v${(process.config.variables as { arm_version?: string }).arm_version ?? '7'}`;
  return p;
}

export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_.-]+$/.test(p))) {
    throw new Error(`invalid platform ${JSON.stringify(text)}: use os/arch[/variant], e.g. linux/amd64 or linux/arm/v7`);
  }
  const p: Platform = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2]) p.variant = parts[2];
  return p;
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** arm64's default variant is v8: an entry without a variant matches it and vice versa. */
function variantMatches(want: string | undefined, have: string | undefined, arch: string): boolean {
  if (!want || !have) return true;
  if (want === have) return true;
  return arch === 'arm64' && [want, have].every((v) => v === 'v8');
}

/** The index entry for a platform (an exact variant preferred over a variant-less entry). */
export function selectPlatform(manifests: Descriptor[], want: Platform): Descriptor | undefined {
  const candidates = manifests.filter(
    (d) => d.platform && d.platform.os === want.os && d.platform.architecture === want.architecture && variantMatches(want.variant, d.platform.variant, want.architecture),
  );
  return candidates.find((d) => d.platform?.variant === want.variant) ?? candidates[0];
}
