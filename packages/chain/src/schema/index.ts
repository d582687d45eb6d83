export * from './limits.js';
export * from './primitives.js';
export * from './transaction.js';
export * from './consensus.js';
