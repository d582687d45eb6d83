import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatMessage,
  ModelEntry,
  ModelList,
  Usage as TokenUsage,
} from '@self/ai';
import { AccessError, type Actor, type AiActionTicket, type Instance } from '../instance.js';
import type { Assistant } from './assistant.js';
import type { InstanceAi } from './connection.js';
import {
  AiError,
  NOT_CONFIGURED_MESSAGE,
  fromInferenceFailure,
  isAiError,
  isInferenceFailure,
} from './errors.js';
import type { ChatCompletionBody, EmbeddingsBody, OpenAiMessage } from './schemas.js';

/**
 * The instance's OpenAI-compatible API: `GET /v1/models`, `POST /v1/chat/completions` (streamed or
 * not) and `POST /v1/embeddings`, so that the official `openai` client (or any other) works against
 * a person's private AI. Stateless: nothing is stored as a thread. It passes requests through to
 * the inference service with the tier's models only, meters every request against the same monthly
 * budget as the assistant, and audits each one (`ai.models`, `ai.completions`, `ai.embeddings`,
 * scope `ai:chat`; the person, or an app holding `ai:chat`).
 *
 * Errors are OpenAI-shaped (`{error: {message, type, code, param}}`), since that is what OpenAI
 * clients parse: a spent budget is 429 `insufficient_quota`, an unknown model 404 `model_not_found`.
 */

export interface OpenAiErrorJson {
  error: { message: string; type: string; code: string; param: string | null };
}

export class OpenAiHttpError extends Error {
  override readonly name = 'OpenAiHttpError';

  constructor(
    readonly status: number,
    readonly type: string,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  body(): OpenAiErrorJson {
    return { error: { message: this.message, type: this.type, code: this.code, param: this.param } };
  }
}

/** OpenAI's error type for a status (as the inference service answers them too). */
export function openAiErrorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 400 && status < 500) return 'invalid_request_error';
  return 'server_error';
}

/** An error as the OpenAI-compatible routes answer it; null when it is none the API knows (500). */
export function toOpenAiError(err: unknown): OpenAiHttpError | null {
  if (err instanceof OpenAiHttpError) return err;
  if (err instanceof AccessError)
    return new OpenAiHttpError(403, 'permission_error', 'forbidden', err.message);
  if (isAiError(err)) {
    switch (err.code) {
      case 'ai_budget_exhausted':
        return new OpenAiHttpError(429, 'insufficient_quota', 'insufficient_quota', err.message);
      case 'model_not_found':
        return new OpenAiHttpError(404, 'invalid_request_error', 'model_not_found', err.message, 'model');
      case 'prompt_too_large':
        return new OpenAiHttpError(
          400,
          'invalid_request_error',
          'context_length_exceeded',
          err.message,
          'messages',
        );
      default:
        return new OpenAiHttpError(
          err.status,
          openAiErrorType(err.status),
          err.code,
          err.message,
          null,
          err.headers,
        );
    }
  }
  if (isInferenceFailure(err)) {
    // The service's own refusals of the request pass through as they are; its unavailability (and
    // a key it refuses: the operator's, not the caller's) is this API's ai_unavailable.
    if (['unreachable', 'model_unavailable', 'unauthorized', 'busy'].includes(err.code)) {
      return toOpenAiError(fromInferenceFailure(err));
    }
    const extra = (err as { extra?: { param?: string | null } }).extra;
    return new OpenAiHttpError(
      err.status,
      openAiErrorType(err.status),
      err.code,
      err.message,
      extra?.param ?? null,
    );
  }
  return null;
}

/** Text of an OpenAI message content (string, or text parts joined). */
function textOf(content: OpenAiMessage['content']): string {
  return typeof content === 'string' ? content : content.map((p) => p.text).join('\n');
}

function approxTokens(messages: ChatMessage[]): number {
  return Math.ceil(messages.reduce((n, m) => n + m.content.length, 0) / 4);
}

export class OpenAiApi {
  constructor(
    private readonly instance: Instance,
    private readonly ai: InstanceAi | null,
    private readonly assistant: Assistant,
  ) {}

  private ticket(actor: Actor, action: string, object: string): AiActionTicket {
    return this.instance.aiAction(actor, { action, scope: 'ai:chat', object, apps: true });
  }

  private requireAi(): InstanceAi {
    if (this.ai === null) throw new AiError('ai_unavailable', NOT_CONFIGURED_MESSAGE);
    return this.ai;
  }

  /** The models this person's tier may use (chat models, then the embedding model). */
  private tierModels(): string[] {
    const c = this.requireAi().connection;
    return [...new Set([...c.models, ...(c.embeddingModel === null ? [] : [c.embeddingModel])])];
  }

  private checkModel(model: string, allowed: string[]): void {
    if (!allowed.includes(model)) {
      throw new AiError('model_not_found', `the model "${model}" does not exist or is not one you may use`, {
        model,
      });
    }
  }

  private meter(usage: { prompt_tokens: number; completion_tokens: number }): void {
    this.instance.aiState().usage.record(usage.prompt_tokens, usage.completion_tokens);
  }

  /** Runs `work` under a ticket: refusals and failures audited as errors, success as ok. */
  private async audited<T>(ticket: AiActionTicket, work: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await work();
    } catch (err) {
      ticket.fail(isAiError(err) || !isInferenceFailure(err) ? err : fromInferenceFailure(err));
      throw err;
    }
    return ticket.ok(() => result);
  }

  async models(actor: Actor): Promise<ModelList> {
    const ticket = this.ticket(actor, 'ai.models', 'ai/models');
    return this.audited(ticket, async () => {
      const allowed = this.tierModels();
      const info = this.assistant.modelInfo;
      if (info === null) throw new AiError('ai_unavailable', NOT_CONFIGURED_MESSAGE);
      const served = await info.list();
      const data: ModelEntry[] = allowed
        .map((id) => served.find((m) => m.id === id))
        .filter((m): m is ModelEntry => m !== undefined);
      return { object: 'list', data };
    });
  }

  /**
   * `ai:memory` (docs/scopes.md): an app holding it gets answers that draw on what the assistant
   * remembers about the person. The items go to the model as a system message; the app gets the
   * model's answer, never the list. The use is audited as `ai.memory.use` under that scope.
   */
  private memoryMessage(actor: Actor, messages: ChatMessage[]): ChatMessage | null {
    if (actor.kind !== 'app' || !actor.scopes.includes('ai:memory')) return null;
    const ticket = this.instance.aiAction(actor, {
      action: 'ai.memory.use',
      scope: 'ai:memory',
      object: 'ai/memory',
      apps: true,
    });
    const lastUser = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    const items = ticket.ok(() => this.instance.aiState().memory.relevant(lastUser));
    if (items.length === 0) return null;
    return {
      role: 'system',
      content:
        'What the person has asked their assistant to remember (use it when it helps; do not list it):\n' +
        items.map((m) => `- ${m.content}`).join('\n'),
    };
  }

  private request(actor: Actor, body: ChatCompletionBody): ChatCompletionRequest {
    const ai = this.requireAi();
    this.checkModel(body.model, ai.connection.models);
    this.assistant.checkBudget();
    const given: ChatMessage[] = body.messages.map((m) => ({
      role: m.role === 'developer' ? 'system' : m.role,
      content: textOf(m.content),
    }));
    const memory = this.memoryMessage(actor, given);
    const messages = memory === null ? given : [memory, ...given];
    const maxTokens = body.max_completion_tokens ?? body.max_tokens;
    return {
      model: body.model,
      messages,
      ...(maxTokens != null ? { max_tokens: maxTokens } : {}),
      ...(body.temperature != null ? { temperature: body.temperature } : {}),
      ...(body.top_p != null ? { top_p: body.top_p } : {}),
      ...(body.seed != null ? { seed: body.seed } : {}),
      ...(body.stop != null ? { stop: body.stop } : {}),
    };
  }

  /** A whole completion (stream: false). */
  async completion(actor: Actor, body: ChatCompletionBody): Promise<ChatCompletion> {
    const ticket = this.ticket(actor, 'ai.completions', `ai/models/${body.model}`);
    return this.audited(ticket, async () => {
      const req = this.request(actor, body);
      const res = await this.requireAi().client.chat(req);
      this.meter(res.usage);
      return res;
    });
  }

  /**
   * A streamed completion. Refusals and failures before the first chunk are thrown by the first
   * `next()` (the route answers them as an HTTP error); a failure after it is thrown by a later
   * `next()` (the route sends it as an error event). Metered when the stream ends, however it ends.
   */
  async *completionStream(
    actor: Actor,
    body: ChatCompletionBody,
    signal?: AbortSignal,
  ): AsyncGenerator<ChatCompletionChunk, void, undefined> {
    const ticket = this.ticket(actor, 'ai.completions', `ai/models/${body.model}`);
    let req: ChatCompletionRequest;
    let iterator: AsyncIterator<ChatCompletionChunk>;
    let first: IteratorResult<ChatCompletionChunk>;
    try {
      req = this.request(actor, body);
      const stream = this.requireAi().client.chatStream(
        { ...req, stream: true },
        signal === undefined ? {} : { signal },
      );
      iterator = stream[Symbol.asyncIterator]();
      first = await iterator.next();
    } catch (err) {
      ticket.fail(isAiError(err) || !isInferenceFailure(err) ? err : fromInferenceFailure(err));
      throw err;
    }
    ticket.ok(() => undefined);
    let usage: TokenUsage | null = null;
    let chunks = 0;
    let done = false;
    try {
      for (let r = first; !r.done; r = await iterator.next()) {
        const chunk = r.value;
        if (chunk.usage) usage = chunk.usage;
        if ((chunk.choices[0]?.delta.content ?? '').length > 0) chunks++;
        yield chunk;
      }
      done = true;
    } finally {
      if (!done) await iterator.return?.().catch(() => undefined);
      // Without the service's count, what arrived is what is counted: a chunk is a token.
      this.meter(
        usage ?? { prompt_tokens: chunks > 0 ? approxTokens(req.messages) : 0, completion_tokens: chunks },
      );
    }
  }

  async embeddings(actor: Actor, body: EmbeddingsBody): Promise<unknown> {
    const ticket = this.ticket(actor, 'ai.embeddings', `ai/models/${body.model}`);
    return this.audited(ticket, async () => {
      this.checkModel(body.model, this.tierModels());
      this.assistant.checkBudget();
      const res = await this.requireAi().client.embed({ model: body.model, input: body.input });
      this.meter({ prompt_tokens: res.usage.prompt_tokens, completion_tokens: 0 });
      if (body.encoding_format !== 'base64') return res;
      // The official client asks for base64 (little-endian float32) unless told otherwise.
      return {
        ...res,
        data: res.data.map((d) => ({
          ...d,
          embedding: Buffer.from(Float32Array.from(d.embedding).buffer).toString('base64'),
        })),
      };
    });
  }
}
