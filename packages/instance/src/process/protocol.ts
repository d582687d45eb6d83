import { isAbsolute } from 'node:path';
import type { JWK } from 'jose';
import type { AiConnection } from '../ai/connection.js';
import type { AppTokenConfig } from '../grants/tokens.js';

/**
 * The instance process's protocol with its parent (the instance manager). Secrets travel only on
 * stdin, never in argv or the environment (both are visible in /proc to the host's other users):
 *
 *   parent → stdin:  ONE JSON line, an InstanceProcessConfig; then stdin stays open. Its end (EOF)
 *                    means the parent died: the process closes the instance and exits.
 *   child → stdout:  ONE JSON line, a ReadyEvent, once it serves on `<dir>/instance.sock`.
 *   child → stderr:  pino JSON log lines (never a secret).
 *   SIGTERM / SIGINT: close the server and the instance, exit 0.
 *
 * A process that cannot start (bad config, wrong key) logs why at `fatal` and exits with
 * EXIT_START_FAILED without printing a ready line. After it is ready it reads every database page
 * once (integrity-check.ts); a damaged database makes it log at `fatal` and exit with EXIT_DAMAGED,
 * as does one found damaged while opening.
 */

export interface ChainConnection {
  /** A SELF node's HTTP API, e.g. http://127.0.0.1:8080. */
  apiUrl: string;
  chainId: string;
  /** Price per point offered for the instance's own transactions. */
  pointPrice: number;
}

export interface AnchorSchedule {
  /** How often to look for audit entries to anchor (ms). */
  everyMs: number;
  /** Anchor only once at least this many entries are not in a segment yet. */
  minEntries: number;
}

export type ProcessLogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface InstanceProcessConfig {
  /** The instance directory (absolute). */
  dir: string;
  /** The host sealing key, 64 hex digits: opens an always-on instance. */
  hostKey: string;
  /** Where to anchor; null: no anchoring, no announcements. */
  chain: ChainConnection | null;
  anchor: AnchorSchedule;
  /** The public URL the gateway serves this instance at; announced on chain. Null: announce nothing. */
  endpoint: string | null;
  logLevel: ProcessLogLevel;
  /**
   * The inference service and what this person's tier may use of it (ai/connection.ts); its key is
   * a secret, like the host key. Null (or absent): no AI, and the AI routes say so.
   */
  ai: AiConnection | null;
  /**
   * Who signs app access tokens (the cloud's OAuth issuer: its public URL) and its public JWKs;
   * the instance verifies every app token against these itself. Null (or absent): every app
   * request is refused (401 invalid_token, reason no_issuer).
   */
  appTokens: AppTokenConfig | null;
}

export interface ReadyEvent {
  event: 'ready';
  socket: string;
  /** The process id as the process sees it (inside a pid namespace, not the host's). */
  pid: number;
  did: string;
  instance_address: string;
}

export const DEFAULT_ANCHOR_SCHEDULE: AnchorSchedule = { everyMs: 5_000, minEntries: 1 };

/** Exit status of a process that failed before it was ready. */
export const EXIT_START_FAILED = 3;
/**
 * Exit status of a process that found its database damaged (a page failed its HMAC), at open or in
 * the whole-database check that follows it: restarting will not help; restore from a backup.
 */
export const EXIT_DAMAGED = 4;

const LOG_LEVELS: readonly ProcessLogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export class ProcessConfigError extends Error {
  override readonly name = 'ProcessConfigError';
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function fail(message: string): never {
  throw new ProcessConfigError(`instance process config: ${message}`);
}

function httpUrl(v: unknown, field: string): string {
  if (typeof v !== 'string') fail(`${field} is a URL string`);
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    fail(`${field} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(`${field} must be http:// or https://`);
  return v;
}

function positiveInt(v: unknown, field: string, min: number): number {
  if (!Number.isSafeInteger(v) || (v as number) < min) fail(`${field} is a whole number ≥ ${min}`);
  return v as number;
}

function parseChain(v: unknown): ChainConnection | null {
  if (v === null || v === undefined) return null;
  if (!isObj(v)) fail('chain is {apiUrl, chainId, pointPrice} or null');
  if (typeof v.chainId !== 'string' || v.chainId.length === 0) fail('chain.chainId is a non-empty string');
  return {
    apiUrl: httpUrl(v.apiUrl, 'chain.apiUrl'),
    chainId: v.chainId,
    pointPrice: positiveInt(v.pointPrice, 'chain.pointPrice', 1),
  };
}

function parseAnchor(v: unknown): AnchorSchedule {
  if (v === null || v === undefined) return { ...DEFAULT_ANCHOR_SCHEDULE };
  if (!isObj(v)) fail('anchor is {everyMs, minEntries}');
  return {
    everyMs: positiveInt(v.everyMs ?? DEFAULT_ANCHOR_SCHEDULE.everyMs, 'anchor.everyMs', 10),
    minEntries: positiveInt(v.minEntries ?? DEFAULT_ANCHOR_SCHEDULE.minEntries, 'anchor.minEntries', 1),
  };
}

function parseAi(v: unknown): AiConnection | null {
  if (v === null || v === undefined) return null;
  if (!isObj(v)) fail('ai is {url, key, models, embeddingModel, monthlyTokenBudget} or null');
  if (typeof v.key !== 'string' || v.key.length === 0) fail('ai.key is a non-empty string');
  const models = v.models;
  if (
    !Array.isArray(models) ||
    models.length === 0 ||
    !models.every((m): m is string => typeof m === 'string' && m.length > 0)
  ) {
    fail('ai.models is a non-empty array of model ids (strings); the first is the default');
  }
  const embeddingModel = v.embeddingModel ?? null;
  if (embeddingModel !== null && (typeof embeddingModel !== 'string' || embeddingModel.length === 0)) {
    fail('ai.embeddingModel is a model id or null');
  }
  const budget = v.monthlyTokenBudget ?? null;
  return {
    url: httpUrl(v.url, 'ai.url'),
    key: v.key,
    models: [...models],
    embeddingModel,
    monthlyTokenBudget: budget === null ? null : positiveInt(budget, 'ai.monthlyTokenBudget', 1),
  };
}

/** Most keys an issuer config may list: a current key and a few being rotated out. */
const MAX_ISSUER_KEYS = 16;

function parseAppTokens(v: unknown): AppTokenConfig | null {
  if (v === null || v === undefined) return null;
  if (!isObj(v)) fail('appTokens is {issuer, keys} or null');
  const issuer = httpUrl(v.issuer, 'appTokens.issuer');
  // The issuer is compared with each token's `iss` as a string: the cloud writes it without a
  // trailing slash, so a config with one could never match.
  if (issuer.endsWith('/')) fail('appTokens.issuer has no trailing slash (it is compared with iss as is)');
  const keys = v.keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_ISSUER_KEYS) {
    fail(`appTokens.keys is a list of 1–${MAX_ISSUER_KEYS} public JWKs`);
  }
  for (const k of keys) {
    if (!isObj(k) || k.kty !== 'OKP' || k.crv !== 'Ed25519' || typeof k.x !== 'string') {
      fail('appTokens.keys are Ed25519 public JWKs ({kty: "OKP", crv: "Ed25519", x, kid?})');
    }
    // A private key has no business in an instance's config: refuse it rather than hold it.
    if (k.d !== undefined) fail('appTokens.keys must be public keys (no "d")');
  }
  return { issuer, keys: keys.map((k) => ({ ...(k as JWK) })) };
}

/** Parses and checks the stdin config line. Error messages never repeat the host key or the AI key. */
export function parseProcessConfig(line: string): InstanceProcessConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    fail('the first stdin line is not JSON');
  }
  if (!isObj(raw)) fail('expected a JSON object');
  if (typeof raw.dir !== 'string' || !isAbsolute(raw.dir)) fail('dir is an absolute directory path');
  if (typeof raw.hostKey !== 'string' || !/^[0-9a-fA-F]{64}$/.test(raw.hostKey)) {
    fail('hostKey is 64 hex digits (the 32-byte host sealing key)');
  }
  const logLevel = raw.logLevel ?? 'warn';
  if (!LOG_LEVELS.includes(logLevel as ProcessLogLevel)) fail(`logLevel is one of ${LOG_LEVELS.join(', ')}`);
  return {
    dir: raw.dir,
    hostKey: raw.hostKey,
    chain: parseChain(raw.chain),
    anchor: parseAnchor(raw.anchor),
    endpoint: raw.endpoint === undefined || raw.endpoint === null ? null : httpUrl(raw.endpoint, 'endpoint'),
    logLevel: logLevel as ProcessLogLevel,
    ai: parseAi(raw.ai),
    appTokens: parseAppTokens(raw.appTokens),
  };
}

/** Parses a stdout line of the process; null when it is not a ready event. */
export function parseReadyEvent(line: string): ReadyEvent | null {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return null;
  }
  if (!isObj(raw) || raw.event !== 'ready') return null;
  if (typeof raw.socket !== 'string' || typeof raw.did !== 'string') return null;
  if (typeof raw.pid !== 'number' || typeof raw.instance_address !== 'string') return null;
  return raw as unknown as ReadyEvent;
}
