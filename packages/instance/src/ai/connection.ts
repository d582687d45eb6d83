import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  EmbeddingsRequest,
  EmbeddingsResponse,
  ModelEntry,
  TokenizeRequest,
  TokenizeResponse,
} from '@self/ai';

/**
 * How an instance reaches its AI: the inference service (packages/ai) and what this person's tier
 * may use of it. The cloud fills it from the tier and the model catalogue and hands it to the
 * instance process on stdin (process/protocol.ts).
 */
export interface AiConnection {
  /** The inference service, e.g. http://127.0.0.1:PORT. */
  url: string;
  /** Its bearer key: a secret, on stdin only, never logged. */
  key: string;
  /** Models this person's tier may use; the first is the default. */
  models: string[];
  /** The model that makes vectors for retrieval; null: full-text search only. */
  embeddingModel: string | null;
  /** Prompt + completion tokens per UTC month; null: unlimited. */
  monthlyTokenBudget: number | null;
}

/**
 * What the instance uses of the inference service: the methods of @self/ai's InferenceClient. The
 * assistant takes this interface rather than the class so that a test can stand a fault in front
 * of the real client (a summarizer that fails, a stream cut short).
 */
export interface InferencePort {
  models(): Promise<ModelEntry[]>;
  chat(req: ChatCompletionRequest): Promise<ChatCompletion>;
  chatStream(req: ChatCompletionRequest, opts?: { signal?: AbortSignal }): AsyncIterable<ChatCompletionChunk>;
  embed(req: EmbeddingsRequest): Promise<EmbeddingsResponse>;
  tokenize(req: TokenizeRequest): Promise<TokenizeResponse>;
}

/** The AI an instance server runs with: the connection and a client for its service. */
export interface InstanceAi {
  connection: AiConnection;
  client: InferencePort;
}
