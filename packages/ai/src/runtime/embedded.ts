import { stat } from 'node:fs/promises';
import type {
  ChatHistoryItem,
  ChatWrapper,
  LlamaContext,
  LlamaContextSequence,
  LlamaEmbeddingContext,
  LlamaModel,
} from 'node-llama-cpp';
import { InferenceError } from '../errors.js';
import { TEST_MODEL_MARK } from '../gguf/test-model.js';
import type { ChatMessage } from '../protocol.js';
import { nodeLlamaCpp, sharedLlama, type GpuSetting, type RuntimeLogger } from './llama.js';
import { Slots } from './slots.js';
import type { ChatHooks, ChatOutcome, ChatParams, EmbedOutcome, ModelRuntime, TokenCount } from './types.js';

export interface EmbeddedRuntimeOptions {
  /** The GGUF file. */
  modelPath: string;
  /** Serve models marked `self.test_model` (tests only; default false). */
  allowTestModels?: boolean;
  /** Default `'auto'`: a GPU when present. Tests pass false. */
  gpu?: GpuSetting;
  /** CPU threads per evaluation (default: llama.cpp's choice). */
  threads?: number;
  /** Tokens per request (default: the trained context, at most 8192). */
  contextSize?: number;
  /** Requests generating at once, each in its own sequence (default 2). */
  maxConcurrent?: number;
  /** Requests waiting for a sequence before `busy` (default 32). */
  queueLimit?: number;
  /** Serve /v1/embeddings (default: when the model declares a pooling type). */
  embeddings?: boolean;
  logger?: RuntimeLogger;
}

/** Absent `temperature`: llama.cpp server's default, a sensible middle for small local models. */
export const DEFAULT_TEMPERATURE = 0.8;
const DEFAULT_MAX_CONTEXT = 8192;

/**
 * A GGUF model run in this process by node-llama-cpp. The model is loaded once; each request
 * takes a sequence of its own in one shared context and disposes it afterwards, which erases its
 * KV cache: no state passes between requests (nor between people). Requests beyond the sequences
 * wait in a bounded line.
 */
export class EmbeddedRuntime implements ModelRuntime {
  readonly kind = 'embedded';
  private embeddingContext: Promise<LlamaEmbeddingContext> | undefined;
  private closed = false;

  private constructor(
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly wrapper: ChatWrapper,
    private readonly slots: Slots,
    readonly embeddings: boolean,
    private readonly threads: number | undefined,
  ) {}

  get contextLength(): number {
    return this.context.contextSize;
  }

  static async load(opts: EmbeddedRuntimeOptions): Promise<EmbeddedRuntime> {
    const lib = await nodeLlamaCpp();
    const probe = await probeGguf(opts.modelPath);
    if (probe.testModel && !opts.allowTestModels) throw testModelRefused(opts.modelPath);

    const llama = await sharedLlama(opts.gpu ?? 'auto', opts.logger);
    const model = await llama.loadModel({ modelPath: opts.modelPath });
    try {
      const maxConcurrent = opts.maxConcurrent ?? 2;
      const context = await model.createContext({
        contextSize: opts.contextSize ?? defaultContextSize(model.trainContextSize),
        sequences: maxConcurrent,
        ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
      });
      const wrapper = lib.resolveChatWrapper(model);
      return new EmbeddedRuntime(
        model,
        context,
        wrapper,
        new Slots(maxConcurrent, opts.queueLimit ?? 32),
        opts.embeddings ?? probe.pooling,
        opts.threads,
      );
    } catch (err) {
      await model.dispose();
      throw err;
    }
  }

  async chat(params: ChatParams, hooks: ChatHooks): Promise<ChatOutcome> {
    this.assertOpen();
    const history = toHistory(params.messages);
    const promptTokens = this.countHistory(history);
    const room = this.contextLength - promptTokens;
    if (params.maxTokens !== undefined ? params.maxTokens > room : room < 1) {
      const asked = params.maxTokens !== undefined ? ` and max_tokens asks for ${params.maxTokens} more` : '';
      throw new InferenceError(
        400,
        'context_length_exceeded',
        `this model's context is ${this.contextLength} tokens; the messages take ${promptTokens}${asked}. ` +
          'Shorten the messages or lower max_tokens.',
        { param: 'messages' },
      );
    }
    const maxTokens = params.maxTokens ?? room;

    const lib = await nodeLlamaCpp();
    const release = await this.slots.acquire(hooks.signal);
    let sequence: LlamaContextSequence | undefined;
    try {
      sequence = this.context.getSequence();
      const chat = new lib.LlamaChat({ contextSequence: sequence, chatWrapper: this.wrapper });
      let completionTokens = 0;
      let stopReason: string;
      try {
        const result = await chat.generateResponse(history, {
          onTextChunk: (text) => {
            if (text !== '') hooks.onText(text);
          },
          onToken: (tokens) => {
            completionTokens += tokens.length;
          },
          ...(hooks.signal ? { signal: hooks.signal } : {}),
          stopOnAbortSignal: false,
          maxTokens,
          temperature: params.temperature ?? DEFAULT_TEMPERATURE,
          ...(params.topP !== undefined ? { topP: params.topP } : {}),
          ...(params.seed !== undefined ? { seed: params.seed } : {}),
          ...(params.stop.length > 0 ? { customStopTriggers: params.stop } : {}),
          // OpenAI's penalties default to off; llama.cpp's repeat penalty would change replies.
          repeatPenalty: false,
        });
        stopReason = result.metadata.stopReason;
      } finally {
        chat.dispose({ disposeSequence: false });
      }
      return {
        finishReason: stopReason === 'maxTokens' ? 'length' : 'stop',
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: completionTokens,
          total_tokens: promptTokens + completionTokens,
        },
      };
    } finally {
      // Disposing the sequence erases its KV cache before the next request can take it.
      if (sequence && !sequence.disposed) await sequence.dispose();
      release();
    }
  }

  async embed(inputs: string[], signal?: AbortSignal): Promise<EmbedOutcome> {
    this.assertOpen();
    if (!this.embeddings)
      throw new InferenceError(400, 'invalid_request', 'this model does not serve embeddings', {
        param: 'model',
      });
    const counts = inputs.map((text) => this.model.tokenize(text).length + 1);
    const longest = Math.max(0, ...counts);
    if (longest >= this.contextLength)
      throw new InferenceError(
        400,
        'context_length_exceeded',
        `an input takes ${longest} tokens; this model embeds at most ${this.contextLength - 1}`,
        { param: 'input' },
      );
    const context = await this.embeddingContextOnce();
    const vectors: number[][] = [];
    for (const text of inputs) {
      signal?.throwIfAborted();
      const embedding = await context.getEmbeddingFor(text);
      vectors.push([...embedding.vector]);
    }
    return { vectors, promptTokens: counts.reduce((a, b) => a + b, 0) };
  }

  async tokenize(input: { text?: string; messages?: ChatMessage[] }): Promise<TokenCount> {
    this.assertOpen();
    const tokens =
      input.messages !== undefined
        ? this.countHistory(toHistory(input.messages))
        : this.model.tokenize(input.text ?? '').length;
    return { tokens, approximate: false };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const embedding = await this.embeddingContext?.catch(() => undefined);
    await embedding?.dispose();
    await this.context.dispose();
    await this.model.dispose();
  }

  /** The prompt as the model sees it: the chat template rendered, then tokenized. */
  private countHistory(history: ChatHistoryItem[]): number {
    const state = this.wrapper.generateContextState({ chatHistory: history });
    return state.contextText.tokenize(this.model.tokenizer).length;
  }

  private embeddingContextOnce(): Promise<LlamaEmbeddingContext> {
    this.embeddingContext ??= this.model.createEmbeddingContext({
      contextSize: this.contextLength,
      ...(this.threads !== undefined ? { threads: this.threads } : {}),
    });
    this.embeddingContext.catch(() => (this.embeddingContext = undefined));
    return this.embeddingContext;
  }

  private assertOpen(): void {
    if (this.closed) throw new InferenceError(503, 'model_unavailable', 'the model has been unloaded');
  }
}

export interface GgufProbe {
  /** The context length the model was trained with. */
  trainContextSize: number;
  /** It declares a pooling type, so it can embed. */
  pooling: boolean;
  /** It is marked `self.test_model`. */
  testModel: boolean;
}

/** What the service needs to know of a GGUF file before loading it (its header only). */
export async function probeGguf(modelPath: string): Promise<GgufProbe> {
  const lib = await nodeLlamaCpp();
  try {
    await stat(modelPath);
  } catch {
    throw new InferenceError(503, 'model_unavailable', `the model file ${modelPath} does not exist`);
  }
  let info: Awaited<ReturnType<typeof lib.readGgufFileInfo>>;
  try {
    info = await lib.readGgufFileInfo(modelPath, { readTensorInfo: false });
  } catch (err) {
    throw new InferenceError(
      503,
      'model_unavailable',
      `${modelPath} is not a readable GGUF model (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  const metadata = info.metadata as unknown as Record<string, Record<string, unknown> | undefined>;
  const [markSection, markKey] = TEST_MODEL_MARK.split('.') as [string, string];
  const arch = String(metadata.general?.architecture ?? '');
  const pooling = metadata[arch]?.pooling_type;
  const trained = Number(metadata[arch]?.context_length);
  return {
    trainContextSize: Number.isSafeInteger(trained) && trained > 0 ? trained : 2048,
    pooling: typeof pooling === 'number' && pooling > 0,
    testModel: metadata[markSection]?.[markKey] === true,
  };
}

/** The context a model runs with unless configured: its trained context, at most 8192. */
export function defaultContextSize(trainContextSize: number): number {
  return Math.min(trainContextSize, DEFAULT_MAX_CONTEXT);
}

export function testModelRefused(modelPath: string): InferenceError {
  return new InferenceError(
    503,
    'model_unavailable',
    `${modelPath} is SELF's scripted test model, which is never offered as an assistant; ` +
      'configure a real model (self ai pull <model-uri>); --allow-test-model is for tests only',
  );
}

/** OpenAI messages as node-llama-cpp's chat history, ending with the reply to generate. */
function toHistory(messages: ChatMessage[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = messages.map((m) => {
    if (m.role === 'system') return { type: 'system', text: m.content };
    if (m.role === 'user') return { type: 'user', text: m.content };
    return { type: 'model', response: [m.content] };
  });
  history.push({ type: 'model', response: [] });
  return history;
}
