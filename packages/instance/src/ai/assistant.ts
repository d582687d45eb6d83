import type { ChatMessage, Usage as TokenUsage } from '@self/ai';
import type { Actor, AiActionTicket, Instance } from '../instance.js';
import type { AiConnection, InstanceAi } from './connection.js';
import { contextNote, planContext, type ContextPlan } from './context.js';
import {
  AiError,
  NOT_CONFIGURED_MESSAGE,
  fromInferenceFailure,
  isAiError,
  isInferenceFailure,
} from './errors.js';
import type { AssistantEvent } from './events.js';
import { memoryJson, messageJson } from './json.js';
import type { MemoryItem } from './memory.js';
import { proposeMemories } from './memory-proposals.js';
import { ModelInfo, type TemplateOverhead } from './models.js';
import { buildPrompt, systemPrompt, type PromptSource } from './prompt.js';
import type { AiState } from './state.js';
import {
  THREAD_ID_RE,
  type Citation,
  type ContextReport,
  type MessageRecord,
  type ThreadRecord,
} from './threads.js';
import type { BudgetState } from './usage.js';

/**
 * The person's private assistant: one message in, a stream of events out (events.ts).
 *
 * The order of work is what makes it safe. Everything that can refuse a message is checked before
 * anything is stored: the access (audited), the thread, the AI configured and reachable, the month's
 * budget, the message fitting the model's context at all. Then the message is stored, with the
 * memory items it proposes, in the transaction that audits the chat (so it is never lost, whatever
 * happens to the reply). Then the history is fitted into the context (context.ts), the sources and
 * memory go into the system prompt (prompt.ts), and the reply streams. It is stored once it ends:
 * complete, or, if the service failed or the client went away, as far as it got, marked incomplete.
 * Every inference is metered. No prompt or reply text is logged or audited.
 */

export interface SendOptions {
  /** One of the tier's models; default its first. */
  model?: string;
  /** Tokens the reply may take; default min(1024, context / 4). */
  maxTokens?: number;
  /** Aborted when the client goes away: the reply so far is stored, marked incomplete. */
  signal?: AbortSignal;
}

export interface AiModelStatus {
  id: string;
  context_length: number | null;
  state: 'ready' | 'loading' | 'unavailable';
  unavailable_reason?: string;
}

export interface AiStatus {
  configured: boolean;
  /** Whether a chat would be served now (the default model is ready or loading). */
  available: boolean;
  /** What is wrong and what to do, when not available. */
  message: string | null;
  default_model: string | null;
  embedding_model: string | null;
  models: AiModelStatus[];
  budget: BudgetState;
}

/** The longest message the assistant takes (characters). */
export const MESSAGE_MAX_CHARS = 256 * 1024;
/** Sources in a prompt, and how much of each document goes in. */
const MAX_SOURCES = 5;
const SOURCE_MAX_CHARS = 1500;
/** A query's embedding is waited for this long; then retrieval goes on with full text alone. */
const QUERY_EMBED_TIMEOUT_MS = 3_000;
const EMBED_MAX_CHARS = 2_000;
const TITLE_MAX_CHARS = 80;
/** Rounds of the exact prompt-size check (each drops the oldest messages that overflow). */
const FIT_ROUNDS = 6;

interface Accepted {
  state: AiState;
  connection: AiConnection;
  thread: ThreadRecord;
  model: string;
  contextLength: number;
  reserve: number;
  overhead: TemplateOverhead;
  text: string;
  messageTokens: number;
  systemTokens: number;
  memory: string[];
  sources: PromptSource[];
  citations: Citation[];
  userMessage: MessageRecord;
  createdMemory: MemoryItem[];
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out')), ms);
    timer.unref?.();
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

function titleFrom(text: string): string {
  const line = text.trim().split('\n', 1)[0]!.replace(/\s+/g, ' ');
  return line.length <= TITLE_MAX_CHARS ? line : `${line.slice(0, TITLE_MAX_CHARS - 1)}…`;
}

export class Assistant {
  private readonly models: ModelInfo | null;

  constructor(
    private readonly instance: Instance,
    private readonly ai: InstanceAi | null,
  ) {
    this.models = ai === null ? null : new ModelInfo(ai.client);
  }

  /** The AI connection, or null when none is configured. */
  get connection(): AiConnection | null {
    return this.ai?.connection ?? null;
  }

  /** The model list and token counts of the service behind this assistant (null: no AI). */
  get modelInfo(): ModelInfo | null {
    return this.models;
  }

  /** The budget state of the current month. */
  budget(): BudgetState {
    return this.instance.aiState().usage.budget(this.ai?.connection.monthlyTokenBudget ?? null);
  }

  /** AiError ai_budget_exhausted when this month's tokens are spent. */
  checkBudget(): void {
    const b = this.budget();
    if (b.budget !== null && b.used >= b.budget) {
      throw new AiError(
        'ai_budget_exhausted',
        `this month's AI budget (${b.budget} tokens) is spent; it starts again on ${b.resets_at.slice(0, 10)}, or move to a larger tier`,
        { used: b.used, budget: b.budget, resets_at: b.resets_at },
      );
    }
  }

  /** Whether and how the AI is served. Never throws for an unreachable service: it says so. */
  async status(): Promise<AiStatus> {
    const budget = this.budget();
    if (this.ai === null || this.models === null) {
      return {
        configured: false,
        available: false,
        message: NOT_CONFIGURED_MESSAGE,
        default_model: null,
        embedding_model: null,
        models: [],
        budget,
      };
    }
    const { connection } = this.ai;
    const base = {
      configured: true,
      default_model: connection.models[0] ?? null,
      embedding_model: connection.embeddingModel,
      budget,
    };
    try {
      const served = await this.models.list(true);
      const models: AiModelStatus[] = connection.models.map((id) => {
        const m = served.find((e) => e.id === id);
        if (m === undefined) {
          return {
            id,
            context_length: null,
            state: 'unavailable',
            unavailable_reason: 'the inference service does not serve this model',
          };
        }
        return {
          id,
          context_length: m.context_length,
          state: m.state,
          ...(m.unavailable_reason !== undefined ? { unavailable_reason: m.unavailable_reason } : {}),
        };
      });
      const first = models[0];
      const available = first !== undefined && first.state !== 'unavailable';
      return {
        ...base,
        available,
        message: available
          ? null
          : `the default model cannot be served: ${first?.unavailable_reason ?? 'none is configured'}`,
        models,
      };
    } catch (err) {
      return {
        ...base,
        available: false,
        message: fromInferenceFailure(err).message,
        models: connection.models.map((id) => ({ id, context_length: null, state: 'unavailable' })),
      };
    }
  }

  /**
   * Sends the person's message to thread `threadId` and streams the reply. Refusals come from the
   * first `next()` as errors (AccessError, AiError: not_found, ai_unavailable, ai_budget_exhausted,
   * prompt_too_large, model_not_found, invalid_argument), before anything is stored; once `start` is
   * yielded, failures end the stream with an `error` event instead.
   */
  async *send(
    actor: Actor,
    threadId: string,
    content: string,
    opts: SendOptions = {},
  ): AsyncGenerator<AssistantEvent, void, undefined> {
    const object = `ai/threads/${THREAD_ID_RE.test(threadId) ? threadId : '<invalid>'}`;
    const ticket = this.instance.aiAction(actor, {
      action: 'ai.chat',
      scope: 'ai:chat',
      object,
      apps: false,
    });
    const accepted = await this.accept(ticket, threadId, content, opts);
    yield* this.reply(accepted, opts.signal);
  }

  private requireAi(): InstanceAi & { models: ModelInfo } {
    if (this.ai === null || this.models === null) throw new AiError('ai_unavailable', NOT_CONFIGURED_MESSAGE);
    return { ...this.ai, models: this.models };
  }

  /** The checks, then the stored message: everything before the first event. */
  private async accept(
    ticket: AiActionTicket,
    threadId: string,
    content: string,
    opts: SendOptions,
  ): Promise<Accepted> {
    // Once ticket.ok runs, it audits the outcome itself (ok, or the error it rolled back).
    let settling = false;
    try {
      const state = this.instance.aiState();
      const thread = state.threads.require(threadId);
      if (typeof content !== 'string' || content.trim().length === 0 || content.length > MESSAGE_MAX_CHARS) {
        throw new AiError('invalid_argument', `a message is 1 to ${MESSAGE_MAX_CHARS} characters of text`);
      }
      const ai = this.requireAi();
      const model = opts.model ?? ai.connection.models[0];
      if (model === undefined || !ai.connection.models.includes(model)) {
        throw new AiError(
          'model_not_found',
          `"${opts.model ?? ''}" is not one of this instance's models (${ai.connection.models.join(', ')})`,
          { model: opts.model ?? null, models: ai.connection.models },
        );
      }
      this.checkBudget();
      const contextLength = (await ai.models.entry(model)).context_length;
      const reserve = opts.maxTokens ?? Math.min(1024, Math.floor(contextLength / 4));
      if (!Number.isSafeInteger(reserve) || reserve < 1 || reserve >= contextLength) {
        throw new AiError('invalid_argument', `max_tokens is 1 to ${contextLength - 1} for ${model}`, {
          context_length: contextLength,
        });
      }
      const [overhead, messageTokens, bareSystem] = await Promise.all([
        ai.models.overhead(model),
        ai.models.tokens(model, content),
        ai.models.tokens(model, systemPrompt({ memory: [], sources: [], summary: null, omittedMessages: 0 })),
      ]);
      const available = contextLength - reserve;
      const frame = overhead.fixed + 2 * overhead.perMessage + messageTokens;
      if (bareSystem + frame > available) {
        throw new AiError(
          'prompt_too_large',
          `this message is ${messageTokens} tokens; with the reply's ${reserve} it does not fit in ${model}'s context of ${contextLength} tokens: shorten it, or split it into several messages`,
          { tokens: messageTokens, context_length: contextLength, reserve },
        );
      }

      const memory = state.memory.relevant(content).map((m) => m.content);
      const vector = await this.queryVector(content);
      const hits = state.retrieval.search(content, { limit: MAX_SOURCES, vector });
      const snippets = new Map(hits.map((h) => [`${h.collection}/${h.key}`, h.snippet]));
      const sources: PromptSource[] = hits.map((hit, i) => ({
        n: i + 1,
        collection: hit.collection,
        key: hit.key,
        text: state.retrieval.text(hit.collection, hit.key, SOURCE_MAX_CHARS) ?? hit.snippet,
      }));
      // A quarter of the context stays for the conversation itself.
      const room = available - frame - Math.floor(available / 4);
      const fitted = await this.fitSystem(model, memory, sources, Math.max(room, bareSystem));
      const citations: Citation[] = fitted.sources.map((s) => ({
        n: s.n,
        collection: s.collection,
        key: s.key,
        snippet: snippets.get(`${s.collection}/${s.key}`) ?? snippetOf(s.text),
      }));

      const proposals = proposeMemories(content);
      settling = true;
      const { userMessage, createdMemory } = ticket.ok(() =>
        state.transaction(() => {
          const userMessage = state.threads.addMessage(threadId, {
            role: 'user',
            content,
            tokens: messageTokens,
            status: 'complete',
            meta: {},
          });
          const createdMemory = proposals
            .map((p) => state.memory.create(p, { thread: threadId, message: userMessage.id }))
            .filter((r) => r.created)
            .map((r) => r.item);
          if (thread.title === null) state.threads.setTitle(threadId, titleFrom(content));
          return { userMessage, createdMemory };
        }),
      );
      return {
        state,
        connection: ai.connection,
        thread: state.threads.require(threadId),
        model,
        contextLength,
        reserve,
        overhead,
        text: content,
        messageTokens,
        systemTokens: fitted.tokens,
        memory: fitted.memory,
        sources: fitted.sources,
        citations,
        userMessage,
        createdMemory,
      };
    } catch (err) {
      // The service's failures become the assistant's (503, 504, 400…); other errors stay as they are.
      const refusal = isAiError(err) || isInferenceFailure(err) ? fromInferenceFailure(err) : err;
      if (!settling) ticket.fail(refusal);
      throw refusal;
    }
  }

  /** The query's embedding for retrieval, when an embedding model is configured and answers in time. */
  private async queryVector(text: string): Promise<{ model: string; values: Float32Array } | null> {
    const model = this.ai?.connection.embeddingModel ?? null;
    if (this.ai === null || model === null) return null;
    try {
      const res = await withTimeout(
        this.ai.client.embed({ model, input: text.slice(0, EMBED_MAX_CHARS) }),
        QUERY_EMBED_TIMEOUT_MS,
      );
      const values = res.data[0]?.embedding;
      return values === undefined ? null : { model, values: Float32Array.from(values) };
    } catch {
      return null; // full-text search alone still finds what the words match
    }
  }

  /**
   * The system prompt's memory and sources, trimmed until it fits in `room` tokens: the last
   * sources go first, then the memory items, half at a time.
   */
  private async fitSystem(
    model: string,
    memory: string[],
    sources: PromptSource[],
    room: number,
  ): Promise<{ memory: string[]; sources: PromptSource[]; tokens: number }> {
    const models = this.requireAi().models;
    let m = memory;
    let s = sources;
    for (;;) {
      const tokens = await models.tokens(
        model,
        systemPrompt({ memory: m, sources: s, summary: null, omittedMessages: 0 }),
      );
      if (tokens <= room || (m.length === 0 && s.length === 0)) return { memory: m, sources: s, tokens };
      if (s.length > 0) s = s.slice(0, -1);
      else m = m.slice(0, Math.floor(m.length / 2));
    }
  }

  /** Everything after the message is stored: never throws, ends with `done` or `error`. */
  private async *reply(a: Accepted, signal?: AbortSignal): AsyncGenerator<AssistantEvent, void, undefined> {
    yield { type: 'start', thread_id: a.thread.id, user_message: messageJson(a.userMessage), model: a.model };

    let prompt: { messages: ChatMessage[]; report: ContextReport; tokens: number };
    try {
      prompt = await this.preparePrompt(a);
    } catch (err) {
      const failure = fromInferenceFailure(err);
      const report: ContextReport = {
        mode: 'window',
        omitted_messages: 0,
        summarized_messages: 0,
        note: 'the reply could not be prepared',
      };
      yield* this.fail(a, '', null, 0, 0, failure.code, failure.message, report);
      return;
    }
    yield { type: 'context', ...prompt.report };
    yield { type: 'citations', sources: a.citations };

    const ai = this.requireAi();
    let text = '';
    let chunks = 0;
    let usage: TokenUsage | null = null;
    let failure: unknown = null;
    let ended = false;
    try {
      const stream = ai.client.chatStream(
        { model: a.model, messages: prompt.messages, stream: true, max_tokens: a.reserve },
        signal === undefined ? {} : { signal },
      );
      for await (const chunk of stream) {
        if (chunk.usage) usage = chunk.usage;
        const delta = chunk.choices[0]?.delta.content ?? '';
        if (delta.length === 0) continue;
        text += delta;
        chunks++;
        yield { type: 'delta', content: delta };
      }
      ended = true;
    } catch (err) {
      failure = err;
      ended = true;
    } finally {
      // The consumer stopped reading (the client went away): keep what arrived.
      if (!ended) {
        try {
          this.store(
            a,
            text,
            'incomplete',
            usage,
            prompt.tokens,
            chunks,
            'client_disconnected',
            prompt.report,
          );
        } catch {
          // the thread went away meanwhile: nothing to keep the partial reply in
        }
      }
    }

    if (failure !== null || signal?.aborted === true) {
      const code = signal?.aborted === true ? 'client_disconnected' : fromInferenceFailure(failure).code;
      const message =
        signal?.aborted === true
          ? 'the client went away; the reply so far is kept'
          : `${fromInferenceFailure(failure).message}; the reply so far is kept, marked incomplete`;
      yield* this.fail(a, text, usage, prompt.tokens, chunks, code, message, prompt.report);
      return;
    }
    // The reply's size as a prompt (what later context planning counts), by the model's own
    // tokenizer; the generated count stands in if the service cannot say.
    const contentTokens = await ai.models.tokens(a.model, text).catch(() => null);
    let saved: { message: MessageRecord; usage: TokenUsage };
    try {
      saved = this.store(
        a,
        text,
        'complete',
        usage,
        prompt.tokens,
        chunks,
        null,
        prompt.report,
        contentTokens,
      );
    } catch (err) {
      yield { type: 'error', error: 'not_stored', message: storeFailure(err), partial_message_id: null };
      return;
    }
    if (a.createdMemory.length > 0) yield { type: 'memory', items: a.createdMemory.map(memoryJson) };
    yield { type: 'done', message: messageJson(saved.message), usage: saved.usage, budget: this.budget() };
  }

  private async *fail(
    a: Accepted,
    text: string,
    usage: TokenUsage | null,
    promptTokens: number,
    chunks: number,
    code: string,
    message: string,
    report: ContextReport,
  ): AsyncGenerator<AssistantEvent, void, undefined> {
    let id: number | null = null;
    try {
      id = this.store(a, text, 'incomplete', usage, promptTokens, chunks, code, report).message.id;
    } catch {
      // the thread went away meanwhile: nothing to keep the partial reply in
    }
    if (a.createdMemory.length > 0) yield { type: 'memory', items: a.createdMemory.map(memoryJson) };
    yield { type: 'error', error: code, message, partial_message_id: id };
  }

  /** The prompt: the planned context, checked against the model's exact count and trimmed if over. */
  private async preparePrompt(
    a: Accepted,
  ): Promise<{ messages: ChatMessage[]; report: ContextReport; tokens: number }> {
    const { models } = this.requireAi();
    const per = a.overhead.perMessage;
    const plan: ContextPlan = await planContext({
      state: a.state,
      client: this.requireAi().client,
      models,
      model: a.model,
      contextLength: a.contextLength,
      reserve: a.reserve,
      overhead: a.overhead,
      thread: a.thread,
      newMessageId: a.userMessage.id,
      fixedTokens: a.systemTokens + a.messageTokens + a.overhead.fixed + 2 * per,
      meter: (u) => a.state.usage.record(u.prompt_tokens, u.completion_tokens),
    });
    let history = plan.history;
    let omitted = plan.omitted;
    let report = plan.report;
    const build = (): ChatMessage[] =>
      buildPrompt({
        memory: a.memory,
        sources: a.sources,
        summary: plan.summary,
        omittedMessages: omitted,
        history,
        message: a.text,
      });
    let messages = build();
    const available = a.contextLength - a.reserve;
    let tokens = await models.chatTokens(a.model, messages);
    // The plan counts stored token numbers and the template's measured overhead; the exact count of
    // the rendered prompt has the last word. What does not fit is dropped, oldest first, and said.
    for (let round = 0; round < FIT_ROUNDS && tokens > available && history.length > 0; round++) {
      let drop = 0;
      let freed = 0;
      while (drop < history.length && freed < tokens - available) freed += history[drop++]!.tokens + per;
      history = history.slice(drop);
      omitted += drop;
      const mode = report.mode === 'full' ? 'window' : report.mode;
      report = {
        mode,
        omitted_messages: omitted,
        summarized_messages: report.summarized_messages,
        note: contextNote(mode, history.length, report.summarized_messages, omitted, plan.why),
      };
      messages = build();
      tokens = await models.chatTokens(a.model, messages);
    }
    return { messages, report, tokens };
  }

  /** Stores the reply and meters it, in one transaction. */
  private store(
    a: Accepted,
    text: string,
    status: 'complete' | 'incomplete',
    usage: TokenUsage | null,
    promptTokens: number,
    chunks: number,
    error: string | null,
    report: ContextReport,
    contentTokens: number | null = null,
  ): { message: MessageRecord; usage: TokenUsage } {
    // Without the service's count, what arrived is what is counted: a chunk is a token.
    const metered: TokenUsage = usage ?? {
      prompt_tokens: chunks > 0 ? promptTokens : 0,
      completion_tokens: chunks,
      total_tokens: (chunks > 0 ? promptTokens : 0) + chunks,
    };
    return a.state.transaction(() => {
      const message = a.state.threads.addMessage(a.thread.id, {
        role: 'assistant',
        content: text,
        tokens: contentTokens ?? metered.completion_tokens,
        status,
        meta: {
          model: a.model,
          usage: metered,
          citations: a.citations,
          context: report,
          ...(error !== null ? { error } : {}),
          ...(a.createdMemory.length > 0 ? { memory_ids: a.createdMemory.map((m) => m.id) } : {}),
        },
      });
      if (metered.total_tokens > 0) a.state.usage.record(metered.prompt_tokens, metered.completion_tokens);
      return { message, usage: metered };
    });
  }
}

function snippetOf(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= 160 ? flat : `${flat.slice(0, 159)}…`;
}

function storeFailure(err: unknown): string {
  return err instanceof AiError && err.code === 'not_found'
    ? 'the thread was deleted while the reply was written; the reply was not kept'
    : 'the reply could not be stored';
}
