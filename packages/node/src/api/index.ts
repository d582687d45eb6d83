/**
 * The node's HTTP/WebSocket API: `createApiServer(node, opts)` builds a Fastify instance over any
 * ApiNode; JSON shapes live in schemas.ts (also served as /openapi.json) and serialize.ts.
 */
export {
  createApiServer,
  DEFAULT_RATE_LIMIT,
  LOCAL_ORIGINS,
  type ApiRateLimitOptions,
  type ApiServerOptions,
} from './server.js';
export { API_ERROR_CODES, ApiError, chainErrorStatus, type ApiErrorCode } from './errors.js';
export { DEFAULT_WS_OPTIONS, parseClientMessage, type WsHubOptions } from './ws-hub.js';
export * from './schemas.js';
export {
  blockJson,
  certificateJson,
  colourHex,
  headerJson,
  recordProofJson,
  stateProofFromJson,
  stateProofJson,
  txJson,
} from './serialize.js';
