import { toHex } from '@self/crypto';
import { NodeApiError, clientError } from './errors.js';
import type {
  AccountInfo,
  ApiErrorBody,
  BatchSubmitResult,
  BlockInfo,
  CommittedTransaction,
  HealthInfo,
  NodeStatus,
  SubmitResult,
  TransactionInfo,
  ValidatorInfo,
} from './types.js';

export interface NodeClientOptions {
  /** Per-request time limit (default 10 s). */
  timeoutMs?: number;
}

export interface WaitOptions {
  /** Give up after this long (default 30 s). */
  timeoutMs?: number;
  /** Time between polls (default 250 ms). */
  intervalMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_WAIT_MS = 30_000;
const DEFAULT_POLL_MS = 250;

/** A typed client of a SELF node's HTTP API (`/health`, `/v1/...`), over the global fetch. */
export class NodeClient {
  readonly baseUrl: string;
  private readonly timeoutMs: number;

  constructor(baseUrl: string, opts: NodeClientOptions = {}) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new TypeError(`not a node URL: "${baseUrl}" (expected e.g. http://127.0.0.1:8080)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new TypeError(`not a node URL: "${baseUrl}" (use http:// or https://)`);
    this.baseUrl = url.href.replace(/\/+$/, '');
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  status(): Promise<NodeStatus> {
    return this.get('/v1/status');
  }

  health(): Promise<HealthInfo> {
    return this.get('/health');
  }

  latestBlock(): Promise<BlockInfo> {
    return this.get('/v1/blocks/latest');
  }

  async block(height: number): Promise<BlockInfo> {
    if (!Number.isSafeInteger(height) || height < 0)
      throw new RangeError(`block height must be a non-negative integer, got ${height}`);
    return this.get(`/v1/blocks/${height}`);
  }

  blockByHash(hash: string): Promise<BlockInfo> {
    return this.get(`/v1/blocks/hash/${encodeURIComponent(hash)}`);
  }

  account(address: string): Promise<AccountInfo> {
    return this.get(`/v1/accounts/${encodeURIComponent(address)}`);
  }

  /** Committed or pending; a NodeApiError with status 404 when the node does not know it. */
  transaction(hash: string): Promise<TransactionInfo> {
    return this.get(`/v1/transactions/${encodeURIComponent(hash)}`);
  }

  validators(): Promise<ValidatorInfo[]> {
    return this.get<ValidatorInfo[] | { validators: ValidatorInfo[] }>('/v1/validators').then((r) =>
      Array.isArray(r) ? r : r.validators,
    );
  }

  /** The DID resolution result the node serves for `did:self:…`. */
  did(did: string): Promise<Record<string, unknown>> {
    return this.get(`/v1/dids/${encodeURIComponent(did)}`);
  }

  app(appId: string): Promise<Record<string, unknown>> {
    return this.get(`/v1/apps/${encodeURIComponent(appId)}`);
  }

  /** Sends signed transaction bytes; the node answers 202 once they are in its mempool. */
  submitTransaction(bytes: Uint8Array): Promise<SubmitResult> {
    return this.request('POST', '/v1/transactions', { tx: toHex(bytes) });
  }

  /**
   * Sends signed transactions as one batch (a CBOR array, at most 1000 of them per call). The node
   * answers 200 once it has judged every one: `results[i]` is `{hash}` when `txs[i]` entered its
   * mempool, else the refusal (`code` is the chain's rejection code). Only a problem with the
   * request as a whole (an empty or too large batch, a full rate limit) throws a NodeApiError.
   */
  submitTransactions(txs: Uint8Array[]): Promise<BatchSubmitResult> {
    return this.request('POST', '/v1/transactions/batch', new RawBody(encodeByteStringArray(txs)));
  }

  /**
   * Polls until the transaction is committed. A 404 while waiting is tolerated (the node may not
   * have seen it yet); other API errors end the wait.
   */
  async waitForTransaction(hash: string, opts: WaitOptions = {}): Promise<CommittedTransaction> {
    return this.poll(opts, `transaction ${hash} to commit`, async () => {
      try {
        const tx = await this.transaction(hash);
        return tx.status === 'committed' ? tx : null;
      } catch (err) {
        if (err instanceof NodeApiError && err.status === 404) return null;
        throw err;
      }
    });
  }

  /** Polls the status until the chain reaches `height`; returns that status. */
  async waitForHeight(height: number, opts: WaitOptions = {}): Promise<NodeStatus> {
    return this.poll(opts, `height ${height}`, async () => {
      const status = await this.status();
      return status.latest_block.height >= height ? status : null;
    });
  }

  // ---------------------------------------------------------------- plumbing

  private async poll<T>(opts: WaitOptions, what: string, attempt: () => Promise<T | null>): Promise<T> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_WAIT_MS;
    const intervalMs = opts.intervalMs ?? DEFAULT_POLL_MS;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const done = await attempt();
      if (done !== null) return done;
      if (Date.now() + intervalMs > deadline)
        throw clientError('wait_timeout', `gave up waiting for ${what} after ${timeoutMs} ms`, this.baseUrl);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }

  private get<T>(path: string): Promise<T> {
    return this.request('GET', path);
  }

  /** `body`: a value sent as JSON, or a RawBody sent as CBOR. */
  private async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const url = this.baseUrl + path;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers:
          body === undefined
            ? { accept: 'application/json' }
            : { 'content-type': body instanceof RawBody ? 'application/cbor' : 'application/json' },
        ...(body === undefined ? {} : { body: body instanceof RawBody ? body.bytes : JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw this.connectionError(err, url);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw this.connectionError(err, url);
    }
    const json = parseJson(text);
    if (!res.ok) throw new NodeApiError(res.status, errorBody(res, json, text), url, retryAfter(res));
    if (json === undefined)
      throw clientError(
        'bad_response',
        `the node at ${this.baseUrl} answered ${method} ${path} with something other than JSON`,
        url,
      );
    return json as T;
  }

  private connectionError(err: unknown, url: string): NodeApiError {
    const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
    if (e?.name === 'TimeoutError' || e?.name === 'AbortError')
      return clientError(
        'timeout',
        `the SELF node at ${this.baseUrl} did not answer within ${this.timeoutMs} ms`,
        url,
      );
    const code = e?.cause?.code;
    const why =
      code === 'ECONNREFUSED'
        ? 'connection refused; is the node running?'
        : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
          ? 'host not found'
          : (e?.cause?.message ?? e?.message ?? String(err));
    return clientError('unreachable', `cannot reach the SELF node at ${this.baseUrl}: ${why}`, url);
  }
}

/** A request body sent as it is (application/cbor). */
class RawBody {
  constructor(readonly bytes: Uint8Array<ArrayBuffer>) {}
}

/** CBOR head: major type and argument, in the shortest form (RFC 8949 §4.2.1). */
function cborHead(major: number, n: number): number[] {
  if (n < 24) return [(major << 5) | n];
  if (n < 0x100) return [(major << 5) | 24, n];
  if (n < 0x10000) return [(major << 5) | 25, n >>> 8, n & 0xff];
  if (n <= 0xffffffff) return [(major << 5) | 26, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  throw new RangeError(`${n} is too large for a batch`);
}

/**
 * Canonical CBOR of an array of byte strings, the batch body the node expects. Written out here so
 * that the client needs no CBOR library (nor @self/chain) for it.
 */
function encodeByteStringArray(items: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const heads = items.map((item) => cborHead(2, item.length));
  const top = cborHead(4, items.length);
  const size = items.reduce((sum, item, i) => sum + heads[i]!.length + item.length, top.length);
  const out = new Uint8Array(size);
  out.set(top, 0);
  let at = top.length;
  items.forEach((item, i) => {
    out.set(heads[i]!, at);
    at += heads[i]!.length;
    out.set(item, at);
    at += item.length;
  });
  return out;
}

function parseJson(text: string): unknown {
  if (text.length === 0) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The server's `{error, message, details}`, or one made from the status when the body is not it. */
function errorBody(res: Response, json: unknown, text: string): ApiErrorBody {
  const o = json as Partial<ApiErrorBody> | undefined;
  if (o && typeof o === 'object' && typeof o.error === 'string' && typeof o.message === 'string')
    return { error: o.error, message: o.message, ...(o.details === undefined ? {} : { details: o.details }) };
  const fallback = text.trim().slice(0, 200);
  return {
    error: res.status === 404 ? 'not_found' : `http_${res.status}`,
    message: `HTTP ${res.status} ${res.statusText}${fallback ? `: ${fallback}` : ''}`,
  };
}

function retryAfter(res: Response): number | undefined {
  const v = res.headers.get('retry-after');
  if (v === null) return undefined;
  const seconds = Number(v);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : undefined;
}
