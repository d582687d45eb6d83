/**
 * @self/cloud: the control plane and gateway. `createCloud` (gateway.ts) serves sign-up, sign-in,
 * identity relaying, the operator's routes and every person's instance under /v1/i/<did>/…;
 * `LocalProvisioner` (instances/) runs instances as sandboxed processes on this machine behind the
 * `Provisioner` interface; `registerChainProxy` serves a chain node's API on the same port.
 */
export * from './gateway.js';
export * from './instances/index.js';
export * from './chain-proxy.js';
export { DEFAULT_RATE_CLASSES, TIER_CONFIG, type RateClass, type TierConfig } from './config/tiers.js';
