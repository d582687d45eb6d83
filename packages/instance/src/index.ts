/**
 * @self/instance: a person's private instance — the data key vault (vault.ts), the encrypted
 * SQLite store with collections, namespaces and quotas (store/), and the hash-chained audit log
 * with Merkle segments for on-chain anchors (audit/), the instance key (instance-key.ts), the
 * instance process (process/) and its anchorer (anchor/), and the private assistant (ai/).
 */
export * from './vault.js';
export * from './store/index.js';
export * from './audit/index.js';
export * from './instance.js';
export * from './instance-key.js';
export * from './export.js';
export * from './server/index.js';
export * from './anchor/index.js';
export * from './process/index.js';
export * from './ai/index.js';
export * from './grants/index.js';
