// The registry server: starting and stopping it (server/start-server.ts) and its configuration.
export { startServer, type RunningServer, type StartOptions } from './start-server.js';
export { loadConfig, ConfigError, type Config, type ConfigInput } from './config.js';
