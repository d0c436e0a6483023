// The seam between the engine's image side (content store, snapshots, pull) and its container
// side (bundles, runtimes, containers): a container needs an image's config and the directories of
// its unpacked layers, nothing else.
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

/** Keeps images from garbage collection while held (a container is being made from one). */
export interface ImageUse {
  release(): Promise<void>;
}

/** What the container side asks of the image side. */
export interface ImageProvider {
  /**
   * Held from finding (or pulling) an image until the container's record names it: a `prune`
   * running meanwhile waits, so it cannot remove the image in between.
   */
  hold(): Promise<ImageUse>;
  /** A local image by reference (`busybox`, `localhost:5000/app:1`), digest reference or image-id prefix. */
  find(ref: string): Promise<LocalImage | undefined>;
  /** Pulls through the client (mirrors and insecure registries apply), unpacks, and returns it. */
  pull(ref: string, opts?: PullOptions): Promise<LocalImage>;
}
