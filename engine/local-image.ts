// What the engine's container side (bundles, runtimes, containers) knows of an image, given by its
// image side (engine/image-provider.ts over the store): the config and the directories of its
// unpacked layers, nothing else.
import type { Digest } from '../oci/index.js';

/** The parts of an OCI image config (image-spec config.md) the container side reads. */
export interface ImageConfigFile {
  architecture?: string;
  os?: string;
  variant?: string;
  config?: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    ExposedPorts?: Record<string, object>;
    Volumes?: Record<string, object>;
    Labels?: Record<string, string>;
    StopSignal?: string;
    /** HEALTHCHECK: durations in nanoseconds. */
    Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; Retries?: number };
  };
  rootfs?: { type: string; diff_ids: string[] };
}

/** An image present in the local store, unpacked. */
export interface LocalImage {
  /** The name it was found by, normalised (`docker.io/library/busybox:latest`), when found by name. */
  reference?: string;
  /** The platform manifest (never an index). */
  manifestDigest: Digest;
  /** The image id, as `docker images` shows it. */
  configDigest: Digest;
  config: ImageConfigFile;
  /** Unpacked layer directories, LOWEST layer first (overlayfs `lowerdir=` wants them reversed). */
  layerDirs: string[];
}

export interface PullOptions {
  /** `os/arch[/variant]`; default: this host. */
  platform?: string;
  /** Progress lines for the terminal; silent when absent. */
  onProgress?: (line: string) => void;
}
