// The OCI model, shared by every part of Stevedore.
export * from './digest.js';
export * from './media-types.js';
export * from './descriptor.js';
export * from './manifest.js';
export * from './name.js';
export * from './reference.js';
export * from './compression.js';
