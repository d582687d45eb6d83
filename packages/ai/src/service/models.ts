import { stat } from 'node:fs/promises';
import {
  CatalogueError,
  resolveApiKey,
  type Catalogue,
  type CatalogueModel,
  type EmbeddedModel,
} from '../catalogue.js';
import { downloadModel, isModelUri, resolveModelFile } from '../download.js';
import { InferenceError } from '../errors.js';
import type { ModelEntry } from '../protocol.js';
import {
  EmbeddedRuntime,
  defaultContextSize,
  probeGguf,
  testModelRefused,
  type GgufProbe,
} from '../runtime/embedded.js';
import type { GpuSetting, RuntimeLogger } from '../runtime/llama.js';
import type { ModelRuntime } from '../runtime/types.js';
import { UpstreamRuntime } from '../runtime/upstream.js';

export interface ModelRegistryOptions {
  cacheDir: string;
  allowTestModels?: boolean;
  gpu?: GpuSetting;
  threads?: number;
  maxConcurrent?: number;
  queueLimit?: number;
  /** Download a missing model on first use (default false: the operator runs `self ai pull`). */
  download?: boolean;
  logger?: RuntimeLogger;
  env?: NodeJS.ProcessEnv;
}

interface Slot {
  spec: CatalogueModel;
  runtime?: ModelRuntime;
  loading?: Promise<ModelRuntime>;
  /** Why the last load failed (retried on the next use: the operator may have fixed it). */
  failure?: InferenceError;
}

/**
 * The catalogue's models and their runtimes. A model is loaded on first use (or by preload), once:
 * concurrent first requests wait for the same load. A model that cannot load is reported as
 * unavailable with what to do about it, and the others keep serving.
 */
export class ModelRegistry {
  private readonly slots = new Map<string, Slot>();
  private readonly created = Math.floor(Date.now() / 1000);
  private readonly probes = new Map<string, { mtimeMs: number; probe: GgufProbe }>();
  private closed = false;

  constructor(
    catalogue: Catalogue,
    private readonly opts: ModelRegistryOptions,
  ) {
    for (const spec of catalogue.models) this.slots.set(spec.id, { spec });
  }

  has(id: string): boolean {
    return this.slots.has(id);
  }

  /** The runtime of a model, loading it if need be; 404 for an id not in the catalogue. */
  async get(id: string): Promise<ModelRuntime> {
    const slot = this.slots.get(id);
    if (!slot)
      throw new InferenceError(404, 'model_not_found', `the model "${id}" does not exist on this service`, {
        param: 'model',
      });
    if (slot.runtime) return slot.runtime;
    if (this.closed)
      throw new InferenceError(503, 'model_unavailable', 'the inference service is shutting down');
    slot.loading ??= this.load(slot).then(
      (runtime) => {
        slot.runtime = runtime;
        slot.failure = undefined;
        slot.loading = undefined;
        return runtime;
      },
      (err: unknown) => {
        slot.failure = asUnavailable(slot.spec.id, err);
        slot.loading = undefined;
        this.opts.logger?.warn({ model: slot.spec.id, code: slot.failure.code }, slot.failure.message);
        throw slot.failure;
      },
    );
    return slot.loading;
  }

  /** Loads every model now; failures are recorded (see entries), not thrown. */
  async preload(): Promise<void> {
    await Promise.all([...this.slots.keys()].map((id) => this.get(id).catch(() => undefined)));
  }

  async entries(): Promise<ModelEntry[]> {
    return Promise.all([...this.slots.values()].map((slot) => this.describe(slot)));
  }

  async close(): Promise<void> {
    this.closed = true;
    const runtimes = await Promise.all(
      [...this.slots.values()].map((s) => s.runtime ?? s.loading?.catch(() => undefined)),
    );
    await Promise.all(runtimes.map((r) => r?.close()));
  }

  private async describe(slot: Slot): Promise<ModelEntry> {
    const spec = slot.spec;
    const base = { id: spec.id, object: 'model' as const, created: this.created, owned_by: 'self' };
    if (slot.runtime)
      return {
        ...base,
        context_length: slot.runtime.contextLength,
        runtime: spec.runtime,
        embeddings: slot.runtime.embeddings,
        state: 'ready',
      };
    if (spec.runtime === 'upstream')
      return {
        ...base,
        context_length: spec.contextSize,
        runtime: 'upstream',
        embeddings: spec.embeddings ?? false,
        ...(slot.failure
          ? { state: 'unavailable', unavailable_reason: slot.failure.message }
          : { state: slot.loading ? 'loading' : 'ready' }),
      };
    // Not loaded yet: the file's header says what it will be, without loading it.
    const entry: ModelEntry = {
      ...base,
      context_length: spec.contextSize ?? 0,
      runtime: 'embedded',
      embeddings: spec.embeddings ?? false,
      state: slot.loading ? 'loading' : 'ready',
    };
    try {
      const probe = await this.probe(this.modelPath(spec));
      if (spec.contextSize === undefined) entry.context_length = defaultContextSize(probe.trainContextSize);
      if (spec.embeddings === undefined) entry.embeddings = probe.pooling;
      if (probe.testModel && !this.opts.allowTestModels) throw testModelRefused(this.modelPath(spec));
      if (slot.failure && !slot.loading) {
        entry.state = 'unavailable';
        entry.unavailable_reason = slot.failure.message;
      }
    } catch (err) {
      if (!slot.loading) {
        entry.state = 'unavailable';
        entry.unavailable_reason = (
          slot.failure ?? asUnavailable(spec.id, this.missingOr(spec, err))
        ).message;
      }
    }
    return entry;
  }

  private modelPath(spec: EmbeddedModel): string {
    return resolveModelFile(spec.source, this.opts.cacheDir);
  }

  /** The header of a model file, read again only when the file changes. */
  private async probe(path: string): Promise<GgufProbe> {
    const mtimeMs = (await stat(path).catch(() => null))?.mtimeMs ?? -1;
    const cached = this.probes.get(path);
    if (cached && cached.mtimeMs === mtimeMs) return cached.probe;
    const probe = await probeGguf(path);
    this.probes.set(path, { mtimeMs, probe });
    return probe;
  }

  private async load(slot: Slot): Promise<ModelRuntime> {
    const spec = slot.spec;
    if (spec.runtime === 'upstream') {
      let apiKey: string | undefined;
      try {
        apiKey = resolveApiKey(spec.apiKey, this.opts.env ?? process.env);
      } catch (err) {
        if (err instanceof CatalogueError)
          throw new InferenceError(503, 'model_unavailable', `model "${spec.id}": ${err.message}`);
        throw err;
      }
      return new UpstreamRuntime({
        baseUrl: spec.baseUrl,
        ...(apiKey !== undefined ? { apiKey } : {}),
        upstreamModel: spec.upstreamModel ?? spec.id,
        contextSize: spec.contextSize,
        ...(spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {}),
        ...(spec.embeddings !== undefined ? { embeddings: spec.embeddings } : {}),
      });
    }
    let path = this.modelPath(spec);
    const present = await stat(path).then(
      () => true,
      () => false,
    );
    if (!present) {
      if (!this.opts.download || !isModelUri(spec.source)) throw this.missing(spec);
      this.opts.logger?.info({ model: spec.id }, `downloading ${spec.source}`);
      path = await downloadModel(spec.source, {
        cacheDir: this.opts.cacheDir,
        ...(spec.sha256 !== undefined ? { sha256: spec.sha256 } : {}),
      });
    }
    const runtime = await EmbeddedRuntime.load({
      modelPath: path,
      ...(this.opts.allowTestModels !== undefined ? { allowTestModels: this.opts.allowTestModels } : {}),
      ...(this.opts.gpu !== undefined ? { gpu: this.opts.gpu } : {}),
      ...(this.opts.threads !== undefined ? { threads: this.opts.threads } : {}),
      ...(spec.contextSize !== undefined ? { contextSize: spec.contextSize } : {}),
      ...(this.opts.maxConcurrent !== undefined ? { maxConcurrent: this.opts.maxConcurrent } : {}),
      ...(this.opts.queueLimit !== undefined ? { queueLimit: this.opts.queueLimit } : {}),
      ...(spec.embeddings !== undefined ? { embeddings: spec.embeddings } : {}),
      ...(this.opts.logger ? { logger: this.opts.logger } : {}),
    });
    this.opts.logger?.info({ model: spec.id, contextLength: runtime.contextLength }, 'model loaded');
    return runtime;
  }

  /** What to do about a model whose file is not there. */
  private missing(spec: EmbeddedModel): InferenceError {
    const path = this.modelPath(spec);
    const message = isModelUri(spec.source)
      ? `the model "${spec.id}" is not downloaded yet: run \`self ai pull ${spec.source}\``
      : `the model file ${path} of "${spec.id}" does not exist: fix the path in the model catalogue (or --model)`;
    return new InferenceError(503, 'model_unavailable', message);
  }

  private missingOr(spec: EmbeddedModel, err: unknown): unknown {
    return err instanceof InferenceError && /does not exist/.test(err.message) ? this.missing(spec) : err;
  }
}

/** Any load failure as the 503 a request gets. */
function asUnavailable(id: string, err: unknown): InferenceError {
  if (err instanceof InferenceError && err.code === 'model_unavailable') return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new InferenceError(503, 'model_unavailable', `the model "${id}" failed to load: ${detail}`);
}
