import type { Dispatcher } from 'undici';
import { InferenceClient } from '../client.js';
import { InferenceError, isAbortError } from '../errors.js';
import type { ChatMessage, FinishReason, Usage } from '../protocol.js';
import type { ChatHooks, ChatOutcome, ChatParams, EmbedOutcome, ModelRuntime, TokenCount } from './types.js';

export interface UpstreamRuntimeOptions {
  /** The server's base URL (`http://host:11434`, `https://…/v1`: either form). */
  baseUrl: string;
  /** Its bearer key, if it wants one (the operator's, never the caller's). */
  apiKey?: string;
  /** The model name the upstream knows. */
  upstreamModel: string;
  /** The upstream model's context window, in tokens (upstreams do not say). */
  contextSize: number;
  /** Longest wait for the first byte, and between bytes of a stream (default 60 000 ms). */
  timeoutMs?: number;
  /** Whether its /v1/embeddings serves this model (default false). */
  embeddings?: boolean;
  dispatcher?: Dispatcher;
}

/** Upstreams are not asked to count tokens: about 3 characters a token errs on the high side. */
export function approximateTokens(chars: number): number {
  return Math.ceil(chars / 3);
}

function approximateChatTokens(messages: ChatMessage[]): number {
  // Each message carries a few template tokens (role markers) besides its text.
  return messages.reduce((n, m) => n + approximateTokens(m.content.length) + 4, 0);
}

/**
 * A model served by another OpenAI-compatible server (Ollama, vLLM, llama.cpp server, OpenLLM, or
 * another SELF inference service). Requests are forwarded as they are; its failures become
 * `upstream_timeout` (504) or `upstream_error` (502, with the upstream's message): a 401 from
 * upstream is the operator's key, not the caller's, so it is a 502 too.
 */
export class UpstreamRuntime implements ModelRuntime {
  readonly kind = 'upstream';
  readonly contextLength: number;
  readonly embeddings: boolean;
  private readonly client: InferenceClient;

  constructor(private readonly opts: UpstreamRuntimeOptions) {
    this.contextLength = opts.contextSize;
    this.embeddings = opts.embeddings ?? false;
    this.client = new InferenceClient({
      url: opts.baseUrl,
      ...(opts.apiKey !== undefined ? { key: opts.apiKey } : {}),
      timeoutMs: opts.timeoutMs ?? 60_000,
      ...(opts.dispatcher ? { dispatcher: opts.dispatcher } : {}),
    });
  }

  async chat(params: ChatParams, hooks: ChatHooks): Promise<ChatOutcome> {
    let finishReason: FinishReason = 'stop';
    let usage: Usage | null = null;
    let replyChars = 0;
    try {
      const stream = this.client.chatStream(
        {
          model: this.opts.upstreamModel,
          messages: params.messages,
          ...(params.maxTokens !== undefined ? { max_tokens: params.maxTokens } : {}),
          ...(params.temperature !== undefined ? { temperature: params.temperature } : {}),
          ...(params.topP !== undefined ? { top_p: params.topP } : {}),
          ...(params.seed !== undefined ? { seed: params.seed } : {}),
          ...(params.stop.length > 0 ? { stop: params.stop } : {}),
          stream_options: { include_usage: true },
        },
        hooks.signal ? { signal: hooks.signal } : {},
      );
      for await (const chunk of stream) {
        if (chunk.usage) usage = chunk.usage;
        for (const choice of chunk.choices) {
          const text = choice.delta.content;
          if (text) {
            replyChars += text.length;
            hooks.onText(text);
          }
          if (choice.finish_reason) finishReason = choice.finish_reason === 'length' ? 'length' : 'stop';
        }
      }
    } catch (err) {
      throw this.upstreamFailure(err, hooks.signal);
    }
    if (!usage) {
      const prompt = approximateChatTokens(params.messages);
      const completion = approximateTokens(replyChars);
      usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
    }
    return { finishReason, usage };
  }

  async embed(inputs: string[], signal?: AbortSignal): Promise<EmbedOutcome> {
    if (!this.embeddings)
      throw new InferenceError(400, 'invalid_request', 'this model does not serve embeddings', {
        param: 'model',
      });
    try {
      const res = await this.client.embed(
        { model: this.opts.upstreamModel, input: inputs },
        signal ? { signal } : {},
      );
      const vectors = [...res.data].sort((a, b) => a.index - b.index).map((d) => d.embedding);
      const promptTokens =
        res.usage?.prompt_tokens ?? inputs.reduce((n, t) => n + approximateTokens(t.length), 0);
      return { vectors, promptTokens };
    } catch (err) {
      throw this.upstreamFailure(err, signal);
    }
  }

  async tokenize(input: { text?: string; messages?: ChatMessage[] }): Promise<TokenCount> {
    const tokens =
      input.messages !== undefined
        ? approximateChatTokens(input.messages)
        : approximateTokens((input.text ?? '').length);
    return { tokens, approximate: true };
  }

  async close(): Promise<void> {}

  private upstreamFailure(err: unknown, signal?: AbortSignal): unknown {
    if (signal?.aborted || isAbortError(err)) return err;
    const where = `the upstream model server ${this.opts.baseUrl}`;
    if (!(err instanceof InferenceError))
      return new InferenceError(502, 'upstream_error', `${where} failed: ${String(err)}`);
    if (err.code === 'timeout')
      return new InferenceError(504, 'upstream_timeout', `${where} did not answer in time`);
    // The caller's own mistake, as the upstream counted it.
    if (err.code === 'context_length_exceeded')
      return new InferenceError(400, 'context_length_exceeded', err.message, { param: 'messages' });
    if (err.code === 'unreachable')
      return new InferenceError(502, 'upstream_error', `${where} cannot be reached: ${err.message}`);
    const status = err.status >= 400 ? ` (${err.status})` : '';
    return new InferenceError(502, 'upstream_error', `${where} failed${status}: ${err.message}`);
  }
}
