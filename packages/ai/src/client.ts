import { request, type Dispatcher } from 'undici';
import { InferenceError, isAbortError, statusForCode } from './errors.js';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  EmbeddingsRequest,
  EmbeddingsResponse,
  ModelEntry,
  ModelList,
  TokenizeRequest,
  TokenizeResponse,
} from './protocol.js';
import { SseParser } from './sse.js';

export { InferenceError } from './errors.js';

export interface InferenceClientOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:PORT` (a trailing `/v1` is accepted too). */
  url: string;
  /** Bearer key; absent: no Authorization header. */
  key?: string;
  /**
   * How long to wait for the response to begin, and for the next bytes of a streamed body, in ms
   * (default 300 000; 0: wait forever). Both are gaps, not a total: a long stream that keeps
   * sending never times out.
   */
  timeoutMs?: number;
  /** Undici dispatcher (default: the global one). */
  dispatcher?: Dispatcher;
}

/** Network errors that mean no server answered at that address. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * A client of the OpenAI-compatible HTTP API: the inference service's, or any upstream server's.
 * Every failure is an InferenceError: the server's own error (status and code from its body), a
 * mid-stream error event (code from the event), `unreachable` (503, nothing answered),
 * `timeout` (504), or `inference_failed` (502, the connection broke after the request was sent).
 */
export class InferenceClient {
  private readonly base: string;
  private readonly key: string | undefined;
  private readonly timeoutMs: number;
  private readonly dispatcher: Dispatcher | undefined;

  constructor(opts: InferenceClientOptions) {
    this.base = opts.url.replace(/\/+$/, '').replace(/\/v1$/, '');
    this.key = opts.key;
    this.timeoutMs = opts.timeoutMs ?? 300_000;
    this.dispatcher = opts.dispatcher;
  }

  async models(opts: { signal?: AbortSignal } = {}): Promise<ModelEntry[]> {
    const list = await this.json<ModelList>('GET', '/v1/models', undefined, opts.signal);
    return list.data;
  }

  chat(req: ChatCompletionRequest, opts: { signal?: AbortSignal } = {}): Promise<ChatCompletion> {
    return this.json<ChatCompletion>('POST', '/v1/chat/completions', { ...req, stream: false }, opts.signal);
  }

  embed(req: EmbeddingsRequest, opts: { signal?: AbortSignal } = {}): Promise<EmbeddingsResponse> {
    return this.json<EmbeddingsResponse>('POST', '/v1/embeddings', req, opts.signal);
  }

  tokenize(req: TokenizeRequest, opts: { signal?: AbortSignal } = {}): Promise<TokenizeResponse> {
    return this.json<TokenizeResponse>('POST', '/v1/tokenize', req, opts.signal);
  }

  /**
   * Streams a chat completion. The last chunk carries finish_reason (and usage when the server
   * sends it). Breaking out of the loop, or aborting `signal`, closes the connection, which
   * tells the server to stop generating.
   */
  async *chatStream(
    req: ChatCompletionRequest,
    opts: { signal?: AbortSignal } = {},
  ): AsyncGenerator<ChatCompletionChunk, void, undefined> {
    const res = await this.send('POST', '/v1/chat/completions', { ...req, stream: true }, opts.signal);
    const body = res.body;
    try {
      if (res.statusCode < 200 || res.statusCode > 299) throw await errorFromResponse(res);
      const type = String(res.headers['content-type'] ?? '');
      if (!type.includes('text/event-stream')) {
        // A server that ignored stream: true answers one completion; hand it on as one chunk.
        yield completionAsChunk(parseJson<ChatCompletion>(await readBody(body, opts.signal)));
        return;
      }
      const parser = new SseParser();
      for await (const bytes of readChunks(body, opts.signal)) {
        for (const data of parser.push(bytes)) {
          if (data === '[DONE]') return;
          yield chunkFromEvent(data);
        }
      }
      throw new InferenceError(502, 'inference_failed', 'the stream ended before it was complete');
    } finally {
      if (!body.destroyed) body.destroy();
    }
  }

  private async json<T>(method: string, path: string, payload: unknown, signal?: AbortSignal): Promise<T> {
    const res = await this.send(method, path, payload, signal);
    if (res.statusCode < 200 || res.statusCode > 299) throw await errorFromResponse(res);
    return parseJson<T>(await readBody(res.body, signal));
  }

  private async send(
    method: string,
    path: string,
    payload: unknown,
    signal?: AbortSignal,
  ): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = { accept: 'application/json, text/event-stream' };
    if (this.key !== undefined) headers.authorization = `Bearer ${this.key}`;
    if (payload !== undefined) headers['content-type'] = 'application/json';
    try {
      return await request(`${this.base}${path}`, {
        method: method as Dispatcher.HttpMethod,
        headers,
        ...(payload !== undefined ? { body: JSON.stringify(payload) } : {}),
        ...(signal ? { signal } : {}),
        ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (err) {
      throw networkError(err, signal, false);
    }
  }
}

/** Maps a network failure to an InferenceError; the caller's own abort is rethrown as it is. */
function networkError(err: unknown, signal: AbortSignal | undefined, responded: boolean): unknown {
  if (err instanceof InferenceError) return err;
  if (signal?.aborted || isAbortError(err)) return err;
  const code = errorCode(err);
  const detail = err instanceof Error ? err.message : String(err);
  if (TIMEOUTS.has(code))
    return new InferenceError(504, 'timeout', `the server did not answer in time (${detail})`);
  if (!responded && UNREACHABLE.has(code))
    return new InferenceError(503, 'unreachable', `the inference server cannot be reached (${detail})`);
  return new InferenceError(
    502,
    'inference_failed',
    `the connection to the inference server broke (${detail})`,
  );
}

function errorCode(err: unknown): string {
  if (typeof err !== 'object' || err === null) return '';
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const cause = (err as { cause?: unknown }).cause;
  return cause !== undefined && cause !== err ? errorCode(cause) : '';
}

async function* readChunks(
  body: Dispatcher.ResponseData['body'],
  signal?: AbortSignal,
): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of body) yield chunk as Buffer;
  } catch (err) {
    throw networkError(err, signal, true);
  }
}

async function readBody(body: Dispatcher.ResponseData['body'], signal?: AbortSignal): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of readChunks(body, signal)) parts.push(chunk);
  return Buffer.concat(parts).toString('utf8');
}

function parseJson<T>(text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new InferenceError(502, 'inference_failed', 'the inference server answered with malformed JSON');
  }
}

/**
 * The error a non-2xx response describes: OpenAI-shaped (`{error: {message, code}}`) or SELF's
 * (`{error: code, message}`); anything else keeps the status with a generic code.
 */
async function errorFromResponse(res: Dispatcher.ResponseData): Promise<InferenceError> {
  let text = '';
  try {
    text = await res.body.text();
  } catch {
    // The status alone still says what happened.
  }
  const described = describeErrorBody(text);
  const retry = Number(res.headers['retry-after']);
  return new InferenceError(
    res.statusCode,
    described?.code ?? `http_${res.statusCode}`,
    described?.message ?? (text.slice(0, 500) || `the server answered ${res.statusCode}`),
    {
      ...(described?.param !== undefined ? { param: described.param } : {}),
      ...(Number.isFinite(retry) && retry > 0 ? { retryAfterSeconds: retry } : {}),
    },
  );
}

function describeErrorBody(text: string): { code?: string; message?: string; param?: string | null } | null {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof body !== 'object' || body === null) return null;
  const e = (body as { error?: unknown }).error;
  if (typeof e === 'object' && e !== null) {
    const o = e as { code?: unknown; message?: unknown; type?: unknown; param?: unknown };
    return {
      ...(typeof o.code === 'string' ? { code: o.code } : typeof o.type === 'string' ? { code: o.type } : {}),
      ...(typeof o.message === 'string' ? { message: o.message } : {}),
      ...(typeof o.param === 'string' || o.param === null ? { param: o.param } : {}),
    };
  }
  const message = (body as { message?: unknown }).message;
  return {
    ...(typeof e === 'string' ? { code: e } : {}),
    ...(typeof message === 'string' ? { message } : {}),
  };
}

function chunkFromEvent(data: string): ChatCompletionChunk {
  let event: unknown;
  try {
    event = JSON.parse(data);
  } catch {
    throw new InferenceError(502, 'inference_failed', 'the inference server sent a malformed stream event');
  }
  if (typeof event === 'object' && event !== null && 'error' in event) {
    const e = (event as { error: unknown }).error;
    const o = (typeof e === 'object' && e !== null ? e : {}) as { code?: unknown; message?: unknown };
    const code = typeof o.code === 'string' ? o.code : 'inference_failed';
    const message = typeof o.message === 'string' ? o.message : 'the stream failed';
    throw new InferenceError(statusForCode(code), code, message);
  }
  return event as ChatCompletionChunk;
}

function completionAsChunk(c: ChatCompletion): ChatCompletionChunk {
  const choice = c.choices[0];
  return {
    id: c.id,
    object: 'chat.completion.chunk',
    created: c.created,
    model: c.model,
    choices: [
      {
        index: 0,
        delta: { role: 'assistant', content: choice?.message.content ?? '' },
        finish_reason: choice?.finish_reason ?? 'stop',
        logprobs: null,
      },
    ],
    usage: c.usage ?? null,
  };
}
