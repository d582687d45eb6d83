/** Anchoring the audit log and announcing the instance on SELF Chain, signed by the instance key. */
export {
  Anchorer,
  type AnchorChain,
  type AnchorLogger,
  type AnchorRound,
  type AnchorerOptions,
} from './anchorer.js';
export { delegatedPurposes } from './delegation.js';
export {
  INSTANCE_NODE_ROLES,
  INSTANCE_NODE_VERSION,
  type NodeAnnouncement,
  endpointMultiaddr,
  instanceAnnouncement,
  sameAnnouncement,
} from './node-record.js';
export { type Announced, type Outbox, readAnnounced, readOutbox } from './outbox.js';
