/** The instance's HTTP API on a Unix socket, for the gateway (server.ts). */
export * from './errors.js';
export * from './schemas.js';
export * from './server.js';
