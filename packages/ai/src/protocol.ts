/**
 * The inference service speaks the OpenAI HTTP protocol (the subset below) so that one client works
 * against it, against an upstream server (Ollama, vLLM, llama.cpp server, OpenLLM), and so that the
 * instance can hand the same shapes on to a person's OpenAI clients. Extensions are marked SELF.
 */

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export interface ChatCompletionRequest {
  model: string;
  messages: ChatMessage[];
  stream?: boolean;
  max_tokens?: number;
  /** The newer OpenAI name for max_tokens; either is accepted. */
  max_completion_tokens?: number;
  temperature?: number;
  top_p?: number;
  seed?: number;
  stop?: string | string[];
  stream_options?: { include_usage?: boolean };
  /** Accepted and ignored (OpenAI clients send it). */
  user?: string;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export type FinishReason = 'stop' | 'length';

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: [
    {
      index: 0;
      message: { role: 'assistant'; content: string };
      finish_reason: FinishReason;
      logprobs: null;
    },
  ];
  usage: Usage;
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: Array<{
    index: 0;
    delta: { role?: 'assistant'; content?: string };
    finish_reason: FinishReason | null;
    logprobs: null;
  }>;
  /** Present on the last chunk (SELF sends it always; OpenAI only with include_usage). */
  usage?: Usage | null;
}

export interface EmbeddingsRequest {
  model: string;
  input: string | string[];
  encoding_format?: 'float';
}

export interface EmbeddingsResponse {
  object: 'list';
  data: Array<{ object: 'embedding'; index: number; embedding: number[] }>;
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

export interface ModelEntry {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
  /** SELF: the context window the service runs this model with, in tokens. */
  context_length: number;
  /** SELF: where it runs. */
  runtime: 'embedded' | 'upstream';
  /** SELF: whether /v1/embeddings works with it. */
  embeddings: boolean;
  /** SELF: ready, loading (first use), or unavailable (with why and what to do). */
  state: 'ready' | 'loading' | 'unavailable';
  unavailable_reason?: string;
}

export interface ModelList {
  object: 'list';
  data: ModelEntry[];
}

/** SELF: counts tokens with the model's own tokenizer (approximate for upstream models). */
export interface TokenizeRequest {
  model: string;
  /** Either a text or a chat (counted as the model's chat template renders it). */
  text?: string;
  messages?: ChatMessage[];
}

export interface TokenizeResponse {
  model: string;
  tokens: number;
  approximate: boolean;
}

/** OpenAI's error body. Mid-stream, the same object arrives as one SSE `data:` line. */
export interface OpenAiErrorBody {
  error: {
    message: string;
    type:
      | 'invalid_request_error'
      | 'authentication_error'
      | 'not_found_error'
      | 'rate_limit_error'
      | 'server_error';
    /** SELF's machine-readable code, e.g. model_not_found, context_length_exceeded, model_unavailable. */
    code: string;
    param: string | null;
  };
}
