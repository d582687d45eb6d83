/** Grants: the consents a person signed for apps, app tokens checked against them, and their anchoring. */
export { GrantError, type ConsentRefusal, type GrantErrorCode, type TokenRefusal } from './errors.js';
export {
  CONSENT_CLOCK_SKEW_MS,
  checkConsent,
  type CheckedConsent,
  type ConsentSubmission,
} from './consent.js';
export { createGrant, ownGrant, revokeGrant } from './actions.js';
export { type GrantJson, grantJson } from './json.js';
export {
  type GrantRecord,
  type GrantState,
  type RevokedBy,
  GrantStore,
  consentFieldsOf,
  grantState,
} from './store.js';
export {
  GRANT_ANCHOR_KINDS,
  type GrantAnchorBody,
  type GrantAnchorKind,
  type GrantSegment,
  GrantCommitments,
  grantAnchorBody,
} from './commitments.js';
export { AppTokens, type AppTokenConfig } from './tokens.js';
export { registerGrantRoutes, type GrantRouteDeps } from './routes.js';
export {
  GRANT_EXPORT_KEYS,
  type GrantExportJson,
  grantExportJson,
  grantRecordProblem,
  grantSignatureHolds,
} from './export-record.js';
