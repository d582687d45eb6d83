import { SELFError, errorFromBody } from './errors.js';
import { readJson } from './http.js';
import type { InstanceClient } from './instance.js';
import { isJsonObject, numberField, stringField, type JsonObject, type JsonValue } from './json.js';
import { readServerSentEvents } from './sse.js';

/** One earlier turn of a conversation. */
export interface ChatMessage {
  /** Who said it. */
  role: 'system' | 'user' | 'assistant';
  /** What was said. */
  content: string;
}

/** What {@link SELFAI.chat} and {@link SELFAI.chatStream} take. */
export interface ChatOptions {
  /** The person's message. */
  message: string;
  /** What the app is about (`'productivity'`, a task description): given to the model as a system message. */
  context?: string;
  /** A model of the person's tier (see {@link SELFAI.models}); default: the tier's default model. */
  model?: string;
  /** At most this many tokens in the reply. */
  maxTokens?: number;
  /** Earlier turns, oldest first; the instance keeps no thread for apps, so the app sends them. */
  history?: ChatMessage[];
  /** Aborts the request (and, for a stream, the generation). */
  signal?: AbortSignal;
}

/** Token counts of one reply (they count against the person's monthly AI budget). */
export interface ChatUsage {
  /** Tokens of the prompt. */
  promptTokens: number;
  /** Tokens of the reply. */
  completionTokens: number;
  /** Their sum. */
  totalTokens: number;
}

/** A complete reply. */
export interface ChatResult {
  /** The reply's text. */
  content: string;
  /** The model that wrote it. */
  model: string;
  /** Its token counts (zeros when a stream ended without them). */
  usage: ChatUsage;
}

/** A model the person's tier may use. */
export interface ModelInfo {
  /** Its id, for {@link ChatOptions.model}. */
  id: string;
  /** The model's entry as the instance describes it (`context_length`, …). */
  raw: JsonObject;
}

function usageOf(v: JsonValue | undefined): ChatUsage {
  const u = isJsonObject(v) ? v : {};
  const prompt = numberField(u, 'prompt_tokens') ?? 0;
  const completion = numberField(u, 'completion_tokens') ?? 0;
  return {
    promptTokens: prompt,
    completionTokens: completion,
    totalTokens: numberField(u, 'total_tokens') ?? prompt + completion,
  };
}

/**
 * The person's private AI, through the instance's OpenAI-compatible API (`ai:chat` scope). The
 * app gets answers, never the person's records; what the model drew on stays in the instance.
 */
export class SELFAI {
  private defaultModel: Promise<string> | null = null;

  /** @internal */
  constructor(private readonly conn: InstanceClient) {}

  /** The models of the person's tier, the default first. */
  async models(opts: { signal?: AbortSignal } = {}): Promise<ModelInfo[]> {
    const res = await this.conn.request({
      method: 'GET',
      path: '/models',
      headers: { accept: 'application/json' },
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    });
    const body = await readJson(res);
    const data = isJsonObject(body) ? body['data'] : undefined;
    if (!Array.isArray(data)) throw new SELFError('SERVER_ERROR', 'the model list has no data');
    return data
      .filter(isJsonObject)
      .map((m) => ({ id: stringField(m, 'id') ?? '', raw: m }))
      .filter((m) => m.id !== '');
  }

  private model(opts: ChatOptions): Promise<string> {
    if (opts.model !== undefined) return Promise.resolve(opts.model);
    if (this.defaultModel === null) {
      this.defaultModel = this.models(opts.signal !== undefined ? { signal: opts.signal } : {}).then(
        (list) => {
          const first = list[0];
          if (first === undefined) throw new SELFError('AI_UNAVAILABLE', "the person's tier has no AI model");
          return first.id;
        },
      );
      this.defaultModel.catch(() => {
        this.defaultModel = null;
      });
    }
    return this.defaultModel;
  }

  private async body(opts: ChatOptions, stream: boolean): Promise<string> {
    if (typeof opts.message !== 'string' || opts.message.length === 0) {
      throw new SELFError('INVALID_REQUEST', 'chat needs a non-empty message');
    }
    const messages: ChatMessage[] = [];
    if (opts.context !== undefined && opts.context !== '') {
      messages.push({ role: 'system', content: `The app's context for this conversation: ${opts.context}` });
    }
    messages.push(...(opts.history ?? []), { role: 'user', content: opts.message });
    return JSON.stringify({
      model: await this.model(opts),
      messages,
      ...(opts.maxTokens !== undefined ? { max_tokens: opts.maxTokens } : {}),
      ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    });
  }

  /** Sends one message and waits for the whole reply. */
  async chat(opts: ChatOptions): Promise<ChatResult> {
    const res = await this.conn.request({
      method: 'POST',
      path: '/chat/completions',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: await this.body(opts, false),
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    });
    const body = await readJson(res);
    const o = isJsonObject(body) ? body : {};
    const choices = o['choices'];
    const first = Array.isArray(choices) ? choices[0] : undefined;
    const message = isJsonObject(first) ? first['message'] : undefined;
    const content = isJsonObject(message) ? stringField(message, 'content') : undefined;
    if (content === undefined) throw new SELFError('SERVER_ERROR', 'the completion has no message');
    return { content, model: stringField(o, 'model') ?? '', usage: usageOf(o['usage']) };
  }

  /**
   * Sends one message and yields the reply's text as it is generated. The generator's return value
   * (what `next()` gives when `done`) is the whole {@link ChatResult}. Abort with `signal`, or stop
   * iterating (`break`): either closes the connection, which stops generation.
   *
   * @example
   * for await (const delta of session.ai.chatStream({ message: 'Plan my day' })) out.write(delta);
   */
  async *chatStream(opts: ChatOptions): AsyncGenerator<string, ChatResult, undefined> {
    const res = await this.conn.request({
      method: 'POST',
      path: '/chat/completions',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: await this.body(opts, true),
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    });
    if (res.body === null) throw new SELFError('SERVER_ERROR', 'the stream has no body');
    let content = '';
    let model = '';
    let usage: ChatUsage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
    for await (const event of readServerSentEvents(res.body)) {
      if (event.data === '[DONE]') return { content, model, usage };
      let chunk: JsonValue;
      try {
        chunk = JSON.parse(event.data) as JsonValue;
      } catch (err) {
        throw new SELFError('SERVER_ERROR', 'the stream sent an event that is not JSON', { cause: err });
      }
      if (!isJsonObject(chunk)) continue;
      // After the first chunk a failure can only arrive as an event (OpenAI's shape).
      if (chunk['error'] !== undefined) throw errorFromBody(res.status, chunk);
      model = stringField(chunk, 'model') ?? model;
      if (chunk['usage'] !== undefined && chunk['usage'] !== null) usage = usageOf(chunk['usage']);
      const choices = chunk['choices'];
      const choice = Array.isArray(choices) ? choices[0] : undefined;
      const delta = isJsonObject(choice) ? choice['delta'] : undefined;
      const text = isJsonObject(delta) ? stringField(delta, 'content') : undefined;
      if (text !== undefined && text !== '') {
        content += text;
        yield text;
      }
    }
    // The connection closed without [DONE]: the reply is cut short.
    throw new SELFError('AI_UNAVAILABLE', 'the reply stream ended early', { reason: 'stream_truncated' });
  }
}
