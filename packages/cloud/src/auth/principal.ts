import type { FastifyReply, FastifyRequest } from 'fastify';
import { TIER_CONFIG } from '../config/tiers.js';
import type { Account, AccountStore } from '../db/accounts.js';
import { unauthenticated } from '../http/errors.js';
import type { SessionManager } from './sessions.js';
import { bearerToken } from './tokens.js';
import { rateKey } from './rate-limit.js';

/** The signed-in person behind a request. */
export interface Principal {
  did: string;
  account: Account;
  sessionExpiresAt: number;
}

/**
 * An app acting for a person with an access token the gateway verified (routes/forward.ts): the
 * token's claims, and the person's account for their tier's limits.
 */
export interface AppPrincipal {
  /** The person whose instance the token reaches. */
  did: string;
  account: Account;
  /** The OAuth client_id (the app's chain id). */
  appId: string;
  scopes: string[];
  grantId: string;
  familyId: string;
  /** The access token itself, passed on so the instance verifies it again. */
  token: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the identify hook: the person whose live session the request carries, else null. */
    selfPrincipal: Principal | null;
    /** Set on instance routes for a request with a verified app access token, else null. */
    selfApp: AppPrincipal | null;
  }
}

/**
 * The access token of an `Authorization: Bearer <JWT>` header, or null: apps send JWTs (three
 * base64url parts, longer than a session token), people send session tokens.
 */
export function appBearer(header: string | string[] | undefined): string | null {
  if (typeof header !== 'string') return null;
  const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/i.exec(header);
  return match && match[1]!.length <= 12_288 ? match[1]! : null;
}

export type Hook = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/**
 * Hooks that authenticate people. `identify` never refuses: it only records who is asking, so the
 * rate limiter that runs next can count the request against that person (or, without a session,
 * against the IP address). `requirePerson` then refuses requests without a live session (401).
 */
export function personHooks(
  sessions: SessionManager,
  accounts: AccountStore,
): { identify: Hook; requirePerson: Hook } {
  const identify: Hook = async (request) => {
    const token = bearerToken(request.headers.authorization);
    if (token === null) return;
    const session = sessions.resolve(token);
    if (!session) return;
    const account = accounts.get(session.did);
    if (!account || account.state !== 'active') return;
    request.selfPrincipal = { did: session.did, account, sessionExpiresAt: session.expiresAt };
  };
  const requirePerson: Hook = async (request) => {
    if (request.selfPrincipal) return;
    const hasToken = bearerToken(request.headers.authorization) !== null;
    throw unauthenticated(
      hasToken
        ? 'the session token is unknown, expired or logged out; sign in again'
        : 'this route needs a session: send Authorization: Bearer <token> from sign-up or sign-in',
      { reason: hasToken ? 'invalid_session' : 'missing_token' },
    );
  };
  return { identify, requirePerson };
}

/** The rate-limit key of a request: the person's DID in their tier's class, else the IP address. */
export function requestRateKey(request: FastifyRequest): string {
  const p = request.selfPrincipal;
  return p ? rateKey(TIER_CONFIG[p.account.tier].rateClass, p.did) : rateKey('anonymous', request.ip);
}
