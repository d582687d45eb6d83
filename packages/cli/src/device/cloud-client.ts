import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { CliError } from '../errors.js';

/** Where commands find a SELF cloud when neither --server nor the identity file says. */
export const DEFAULT_SERVER_URL = 'http://127.0.0.1:8080';

/** An HTTP error from the cloud (or an instance behind it) in its `{error, message, details}` form. */
export class CloudApiError extends Error {
  override readonly name = 'CloudApiError';

  constructor(
    /** HTTP status; 0 when no response came back. */
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

export interface RequestOptions {
  /** A JSON body. */
  json?: unknown;
  /** A raw body (with `contentType`). */
  body?: Uint8Array;
  contentType?: string;
  headers?: Record<string, string>;
  query?: Record<string, string | number | undefined>;
  /** Send the session token (default true when the client has one). */
  auth?: boolean;
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** A normalized server URL (no trailing slash); a CliError (exit 2) for anything else. */
export function normalizeServerUrl(value: string, flag = '--server'): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError(`${flag} must be an http:// or https:// URL, got "${value}"`, 2);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new CliError(`${flag} must be an http:// or https:// URL, got "${value}"`, 2);
  if (url.search !== '' || url.hash !== '')
    throw new CliError(`${flag} must not have a query or fragment`, 2);
  return url.href.replace(/\/+$/, '');
}

/** A response whose body has not been read yet. */
export interface CloudResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
}

/**
 * A small client of a SELF cloud's HTTP API. node:http rather than fetch: fetch normalizes the
 * path as a URL, which would turn the (legal) object keys `.` and `..` into path navigation.
 */
export class CloudClient {
  readonly baseUrl: string;
  token: string | null;
  private readonly url: URL;

  constructor(baseUrl: string, token: string | null = null) {
    this.baseUrl = normalizeServerUrl(baseUrl);
    this.url = new URL(this.baseUrl);
    this.token = token;
  }

  /** A successful response (2xx) with its body unread; anything else throws CloudApiError. */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<CloudResponse> {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) query.set(k, String(v));
    const qs = query.toString();
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    let body: Buffer | undefined;
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = Buffer.from(JSON.stringify(opts.json), 'utf8');
    } else if (opts.body !== undefined) {
      headers['content-type'] = opts.contentType ?? 'application/octet-stream';
      body = Buffer.from(opts.body.buffer, opts.body.byteOffset, opts.body.byteLength);
    }
    if (body !== undefined) headers['content-length'] = String(body.length);
    if ((opts.auth ?? true) && this.token !== null) headers.authorization = `Bearer ${this.token}`;
    const basePath = this.url.pathname === '/' ? '' : this.url.pathname;
    const res = await this.send(
      method,
      `${basePath}${path}${qs ? `?${qs}` : ''}`,
      headers,
      body,
      opts.timeoutMs,
    );
    if (res.status >= 200 && res.status < 300) return res;
    throw errorFromResponse(res.status, res.headers, await readBody(res.body));
  }

  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.request(method, path, opts);
    const text = (await readBody(res.body)).toString('utf8');
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CloudApiError(res.status, 'bad_response', `${this.baseUrl}${path} did not answer JSON`);
    }
  }

  private send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
    timeoutMs = DEFAULT_TIMEOUT_MS,
  ): Promise<CloudResponse> {
    const send = this.url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(
        {
          protocol: this.url.protocol,
          hostname: this.url.hostname.replace(/^\[|\]$/g, ''),
          port: this.url.port === '' ? undefined : Number(this.url.port),
          method,
          path,
          headers,
        },
        (res) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res }),
      );
      // Inactivity, not total time: a long export keeps streaming past it.
      req.setTimeout(timeoutMs, () =>
        req.destroy(new CloudApiError(0, 'timeout', `${this.baseUrl} did not answer in time`)),
      );
      req.on('error', (err) => reject(transportError(err, this.baseUrl)));
      req.end(body);
    });
  }
}

/** The whole body of a response. */
export async function readBody(body: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function transportError(err: unknown, baseUrl: string): CloudApiError {
  if (err instanceof CloudApiError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  return new CloudApiError(
    0,
    'unreachable',
    `cannot reach the SELF cloud at ${baseUrl}${code ? ` (${code})` : ''}`,
  );
}

function errorFromResponse(status: number, headers: IncomingHttpHeaders, raw: Buffer): CloudApiError {
  const text = raw.toString('utf8');
  const retry = headers['retry-after'];
  const retryAfter = typeof retry === 'string' && /^[0-9]+$/.test(retry) ? Number(retry) : undefined;
  try {
    const o = JSON.parse(text) as { error?: unknown; message?: unknown; details?: unknown; code?: unknown };
    if (typeof o.error === 'string' && typeof o.message === 'string') {
      const details =
        typeof o.details === 'object' && o.details !== null ? (o.details as Record<string, unknown>) : {};
      return new CloudApiError(status, o.error, o.message, details, retryAfter);
    }
  } catch {
    // Not the JSON error shape: described by its status below.
  }
  return new CloudApiError(
    status,
    status === 429 ? 'rate_limited' : `http_${status}`,
    `the server answered HTTP ${status}`,
    {},
    retryAfter,
  );
}

/** What to try next, by error code (the server's, or a chain code the server passed on). */
const HINTS: Record<string, string> = {
  unreachable: 'start a SELF cloud (`self up`) or point at one with --server URL (or $SELF_SERVER)',
  timeout: 'the cloud may be busy; try again',
  bad_response: 'is --server the URL of a SELF cloud?',
  unauthenticated: 'the session is no longer valid: sign in again with `self login`',
  forbidden: 'this session may not do that; `self login` signs in as this device’s identity',
  exists: 'this identity already has an account there: `self login` signs in to it',
  not_found: 'check the name (and for data, `self data ls <collection>` lists the keys)',
  invalid_name: 'collection names are 1–32 of a-z 0-9 _ - and start with a letter',
  invalid_key: 'keys are 1–512 bytes of UTF-8 without control characters or leading/trailing spaces',
  quota_exceeded: 'free space with `self data rm`, or move to a tier with a larger quota',
  too_large: 'the value is larger than this tier accepts',
  conflict: 'the object changed since it was read; get it again and retry',
  unavailable: 'the instance is starting, stopping or locked; retry in a moment',
  rate_limited: 'too many requests; wait and retry',
  rate_limit_exceeded: 'too many requests; wait and retry',
  insufficient_funds: 'the account cannot pay the fee; on a test network, `self tx faucet --to <address>`',
  bad_nonce: 'another transaction of this account used that nonce; run the command again',
  wrong_chain: 'the transaction was signed for another chain than the cloud serves',
  in_progress: 'another sign-up of this identity is running; wait for it, then run the command again',
  challenge_expired: 'run the command again: sign-in challenges are short-lived',
};

/** A CloudApiError as a one-line CliError (`<message> (<code>)`) with a hint; anything else unchanged. */
export function cliErrorFromCloud(err: unknown, hints: Record<string, string> = {}): unknown {
  if (!(err instanceof CloudApiError)) return err;
  const chainCode = typeof err.details.code === 'string' ? err.details.code : undefined;
  let hint = hints[err.code] ?? (chainCode ? HINTS[chainCode] : undefined) ?? HINTS[err.code];
  if (err.retryAfter !== undefined) hint = `${hint ?? 'retry later'} (retry after ${err.retryAfter} s)`;
  const code = chainCode && chainCode !== err.code ? `${err.code}: ${chainCode}` : err.code;
  return new CliError(`${err.message} (${code})${hint ? `\n  hint: ${hint}` : ''}`, 1);
}

/** Runs a cloud request, turning its failures into CLI errors. */
export async function fromCloud<T>(request: Promise<T>, hints?: Record<string, string>): Promise<T> {
  try {
    return await request;
  } catch (err) {
    throw cliErrorFromCloud(err, hints);
  }
}
