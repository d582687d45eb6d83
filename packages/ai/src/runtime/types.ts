import type { ChatMessage, FinishReason, Usage } from '../protocol.js';

/** A chat request as a runtime takes it: the OpenAI fields, validated and normalised. */
export interface ChatParams {
  messages: ChatMessage[];
  /** Absent: as many as the context has room for. */
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  stop: string[];
}

export interface ChatHooks {
  /** Aborted when the caller is gone: generation stops at once. */
  signal?: AbortSignal;
  /** Each piece of reply text as it is generated. */
  onText(text: string): void;
}

export interface ChatOutcome {
  finishReason: FinishReason;
  usage: Usage;
}

export interface EmbedOutcome {
  vectors: number[][];
  promptTokens: number;
}

export interface TokenCount {
  tokens: number;
  approximate: boolean;
}

/**
 * One served model, whatever runs it. Runtimes throw InferenceError for everything the caller
 * should see (context_length_exceeded, busy, upstream_timeout, …).
 */
export interface ModelRuntime {
  readonly kind: 'embedded' | 'upstream';
  /** The context window requests run in, in tokens. */
  readonly contextLength: number;
  readonly embeddings: boolean;
  chat(params: ChatParams, hooks: ChatHooks): Promise<ChatOutcome>;
  embed(inputs: string[], signal?: AbortSignal): Promise<EmbedOutcome>;
  tokenize(input: { text?: string; messages?: ChatMessage[] }): Promise<TokenCount>;
  close(): Promise<void>;
}
