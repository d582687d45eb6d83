/** @self/http: small pieces every SELF HTTP API shares, so their errors look the same. */
export * from './route-table.js';
export * from './validation.js';
