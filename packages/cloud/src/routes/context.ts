import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from 'fastify';
import type { Logger } from 'pino';
import type { ChallengeStore } from '../auth/challenges.js';
import type { OperatorAuth } from '../auth/operator.js';
import type { Hook } from '../auth/principal.js';
import type { SessionManager } from '../auth/sessions.js';
import type { AccountStore } from '../db/accounts.js';
import type { ControlDatabase } from '../db/database.js';
import type { Provisioner } from '../instances/index.js';
import type { CloudMetrics } from '../metrics.js';
import type { SignupChain, SignupService } from '../signup/signup.js';

/** The Fastify instance routes are declared on: TypeBox schemas type each handler's input. */
export type CloudApp = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** Everything the routes share. */
export interface CloudContext {
  /** The gateway's public base URL, without a trailing slash. */
  publicUrl: string;
  /** signInOrigin(publicUrl): what sign-in signatures must name. */
  origin: string;
  /** testnet: test users and sponsorship exist; production: never a test user. */
  environment: 'testnet' | 'production';
  /** The control database (tables: db/database.ts and the *-schema.ts files beside it). */
  db: ControlDatabase;
  /** The cloud's own directory (control.db, operator.token and key files, all 0600). */
  dataDir: string;
  accounts: AccountStore;
  sessions: SessionManager;
  challenges: ChallengeStore;
  operator: OperatorAuth;
  provisioner: Provisioner;
  chain: SignupChain;
  signup: SignupService;
  metrics: CloudMetrics;
  logger: Logger;
  /**
   * onRequest hooks per kind of route, in order: anonymous routes are rate-limited per IP; person
   * routes identify the session, rate-limit per person, then refuse without one; operator routes
   * rate-limit per IP, then check the operator token.
   */
  hooks: { anonymous: Hook[]; person: Hook[]; operator: Hook[] };
  now: () => number;
}
