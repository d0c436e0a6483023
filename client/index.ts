// The registry client: what the CLI, the engine and the mirror use to talk to registries.
export * from './client.js';
export * from './client-config.js';
export * from './copy-image.js';
export * from './docker-archive.js';
export * from './mirrored-source.js';
export * from './errors.js';
export * from './image-location.js';
export * from './locations.js';
export * from './oci-layout.js';
export * from './platform.js';
export * from './registry-client.js';
export * from './registry-image.js';
export * from './temp-files.js';
export * from './auth/credentials.js';
export { HostResolver, type HostResolverOptions, type HostSettings } from './registry-hosts.js';
export { Transport, DEFAULT_RETRY, type RetryPolicy } from './transport.js';
export { saveCredentials, removeCredentials } from './auth/credential-store.js';
