import './polyfills.js';

export * from './config.js';
export * from './home.js';
export * from './node-api.js';
export * from './node.js';
export * from './testnet-init.js';
export { NodeMetrics } from './metrics.js';
export * from './client/index.js';
export { createApiServer } from './api/index.js';
export { P2PNode, generatePeerKey, peerIdFromKeyBytes } from './p2p/index.js';
export * from './verify/index.js';
