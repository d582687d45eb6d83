/** The private assistant inside the instance: its state, retrieval, memory, metering and routes. */
export type { AiConnection, InferencePort, InstanceAi } from './connection.js';
export { AiError, isAiError, type AiErrorCode } from './errors.js';
export {
  Assistant,
  MESSAGE_MAX_CHARS,
  type AiModelStatus,
  type AiStatus,
  type SendOptions,
} from './assistant.js';
export { sseFrame, type AssistantEvent, type AssistantEventType } from './events.js';
export type { MemoryItemJson, MessageJson, ThreadJson } from './json.js';
export { AiState } from './state.js';
export {
  ThreadStore,
  type Citation,
  type ContextMode,
  type ContextReport,
  type MessageMeta,
  type MessageRecord,
  type MessageRole,
  type MessageStatus,
  type ThreadRecord,
} from './threads.js';
export { MemoryStore, MEMORY_PROMPT_MAX, type MemoryItem } from './memory.js';
export { proposeMemories, memoryNorm, MEMORY_MAX_CHARS } from './memory-proposals.js';
export { UsageMeter, utcMonth, nextMonthStart, type BudgetState, type MonthUsage } from './usage.js';
export { RetrievalIndex, NOT_RETRIEVED, type SearchHit, type SearchOptions } from './retrieval.js';
export { INDEX_TEXT_MAX_BYTES, indexableText, isIndexableType } from './text-extract.js';
export { ftsQuery, searchTerms } from './fts-query.js';
export { BackgroundEmbedder, EMBED_TEXT_MAX_CHARS, type EmbedderOptions } from './embedder.js';
export {
  buildPrompt,
  systemPrompt,
  summaryPrompt,
  type PromptContext,
  type PromptInput,
  type PromptSource,
} from './prompt.js';
export { OpenAiApi, OpenAiHttpError, toOpenAiError, type OpenAiErrorJson } from './openai.js';
