/**
 * @self/instance: a person's private instance — the data key vault (vault.ts), the encrypted
 * SQLite store with collections, namespaces and quotas (store/), and the hash-chained audit log
 * with Merkle segments for on-chain anchors (audit/). The instance process, its gateway and
 * provisioning build on these.
 */
export * from './vault.js';
export * from './store/index.js';
export * from './audit/index.js';
export * from './instance.js';
export * from './export.js';
export * from './server/index.js';
