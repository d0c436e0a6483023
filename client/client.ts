// The Client: shared transport, credentials and token cache for every registry a command talks
// to. Apart from the index so a command that only asks a registry something (`tags`, `digest`)
// loads this and what it uses, not the copy machinery (layouts, archives, mirrors).
import { Authenticator } from './auth/authenticator.js';
import { CredentialChain, defaultCredentialSources, type CredentialSource } from './auth/credentials.js';
import type { ClientConfig, Mirror } from './client-config.js';
import type { Endpoint } from './mirrored-source.js';
import { RegistryClient } from './registry-client.js';
import { HostResolver, type HostResolverOptions } from './registry-hosts.js';
import { DEFAULT_RETRY, Transport, type RetryPolicy } from './transport.js';

export interface ClientOptions extends HostResolverOptions {
  credentials?: CredentialSource;
  retry?: RetryPolicy;
  env?: NodeJS.ProcessEnv;
  /** Mirrors and insecure registries (default: none). */
  config?: ClientConfig;
  onMirrorFallback?: (endpoint: Endpoint, error: Error) => void;
}

/** Shared transport, credentials and token cache for all registries a command talks to. */
export class Client {
  readonly transport: Transport;
  readonly auth: Authenticator;
  private readonly clients = new Map<string, RegistryClient>();

  private readonly config?: ClientConfig;
  readonly onMirrorFallback?: (endpoint: Endpoint, error: Error) => void;

  constructor(opts: ClientOptions = {}) {
    this.config = opts.config;
    this.onMirrorFallback = opts.onMirrorFallback;
    const insecure = [...(opts.insecure ?? []), ...(opts.config?.insecure ?? [])];
    const insecureLoopback = opts.insecureLoopback ?? opts.config?.insecureLoopback;
    this.transport = new Transport(new HostResolver({ ...opts, insecure, insecureLoopback }), opts.retry ?? DEFAULT_RETRY);
    const credentials = opts.credentials ?? defaultCredentialSources(opts.env);
    this.auth = new Authenticator(this.transport, credentials instanceof CredentialChain ? credentials : new CredentialChain([credentials]));
  }

  registryClient(registry: string): RegistryClient {
    let c = this.clients.get(registry);
    if (!c) {
      c = new RegistryClient(registry, this.transport, this.auth);
      this.clients.set(registry, c);
    }
    return c;
  }

  mirrorsFor(registry: string): Mirror[] {
    return this.config?.mirrors.get(registry) ?? [];
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}
