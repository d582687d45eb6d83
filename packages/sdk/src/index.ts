/**
 * @self/sdk: sign people in with SELF (OAuth 2.1, authorization code + PKCE S256) and use what they
 * granted: their private AI, the app's storage in their instance, their profile. Browsers and
 * Node 20+, no dependencies. Start with {@link SELFClient}; test harnesses add {@link SELFDeveloper}.
 */
export { SELFClient } from './client.js';
export type {
  AuthorizationRequest,
  AuthorizationUrl,
  CodeExchange,
  PendingAuthorization,
  RedirectOptions,
  SELFClientOptions,
} from './client.js';
export { SELFSession } from './session.js';
export type { SELFGrant, SELFProfile } from './session.js';
export { SELFAI } from './ai.js';
export type { ChatMessage, ChatOptions, ChatResult, ChatUsage, ModelInfo } from './ai.js';
export { DEFAULT_COLLECTION, SELFCollection, SELFStorage } from './storage.js';
export type {
  ListOptions,
  ListResult,
  RequestOptions,
  SaveOptions,
  SaveResult,
  StoredBytes,
  StoredItem,
} from './storage.js';
export { SELFError, isSELFError } from './errors.js';
export type { SELFErrorCode, SELFErrorInit } from './errors.js';
export { TESTNET_URL } from './environment.js';
export type { SELFEnvironment } from './environment.js';
export { localStorageTokenStore, memoryTokenStore } from './token-store.js';
export type { StorageLike, StoredSession, TokenStore, WebStorageTokenStoreOptions } from './token-store.js';
export type { FetchLike } from './http.js';
export { SELFDeveloper, TestUser } from './developer.js';
export type {
  ApproveOptions,
  ConsentDecision,
  DeveloperApp,
  SELFDeveloperOptions,
  Tier,
} from './developer.js';
export { codeChallengeS256, createCodeVerifier, createState } from './pkce.js';
export { SSEParser, readServerSentEvents } from './sse.js';
export type { ServerSentEvent } from './sse.js';
export type { JsonObject, JsonValue } from './json.js';
