/** @self/ai: SELF's inference service, its client, model runtimes, catalogue and downloads. */
export * from './protocol.js';
export { InferenceError, statusForCode } from './errors.js';
export { InferenceClient, type InferenceClientOptions } from './client.js';
export { SseParser } from './sse.js';
export * from './catalogue.js';
export * from './download.js';
export type {
  ChatParams,
  ChatHooks,
  ChatOutcome,
  EmbedOutcome,
  ModelRuntime,
  TokenCount,
} from './runtime/types.js';
export {
  EmbeddedRuntime,
  DEFAULT_TEMPERATURE,
  probeGguf,
  defaultContextSize,
  type EmbeddedRuntimeOptions,
  type GgufProbe,
} from './runtime/embedded.js';
export { UpstreamRuntime, approximateTokens, type UpstreamRuntimeOptions } from './runtime/upstream.js';
export type { GpuSetting, RuntimeLogger } from './runtime/llama.js';
export {
  createInferenceService,
  startInferenceService,
  DEFAULT_BODY_LIMIT,
  type InferenceService,
  type InferenceServiceOptions,
  type StartedInferenceService,
} from './service/server.js';
export { ModelRegistry, type ModelRegistryOptions } from './service/models.js';
export {
  TEST_MODEL_REPLY,
  TEST_MODEL_NAME,
  TEST_MODEL_MARK,
  writeTestModel,
  writeRandomModel,
  RANDOM_MODEL_SMALL,
  type RandomModelOptions,
  type TestModelOptions,
} from './gguf/test-model.js';
export { parseServeConfig, type ServeConfig } from './service/config.js';
export { spawnInferenceService, type SpawnOptions, type SpawnedInferenceService } from './service/spawn.js';
