import type { ModelEntry } from '@self/ai';
import type { InferencePort } from './connection.js';
import { AiError, fromInferenceFailure } from './errors.js';

/**
 * What the assistant needs to know about a model before it builds a prompt: its context window
 * (from the service's /v1/models) and what the chat template adds around messages (measured once
 * per model with /v1/tokenize), so that prompt sizes are planned from stored token counts rather
 * than by tokenizing the whole history at every message.
 */

/** Tokens the chat template adds: per message, and once per prompt (BOS, the reply's lead-in). */
export interface TemplateOverhead {
  perMessage: number;
  fixed: number;
}

/** The model list is asked again after this long: models load, fail and come back. */
const MODELS_TTL_MS = 10_000;

export class ModelInfo {
  private cached: { at: number; models: ModelEntry[] } | null = null;
  private readonly overheads = new Map<string, Promise<TemplateOverhead>>();

  constructor(
    private readonly client: InferencePort,
    private readonly now: () => number = Date.now,
  ) {}

  /** The service's models; AiError ai_unavailable when it cannot be reached. */
  async list(fresh = false): Promise<ModelEntry[]> {
    const c = this.cached;
    if (!fresh && c !== null && this.now() - c.at < MODELS_TTL_MS) return c.models;
    try {
      const models = await this.client.models();
      this.cached = { at: this.now(), models };
      return models;
    } catch (err) {
      this.cached = null;
      throw fromInferenceFailure(err);
    }
  }

  /** A model the service serves, ready or loading; AiError ai_unavailable otherwise. */
  async entry(model: string): Promise<ModelEntry> {
    const found = (await this.list()).find((m) => m.id === model);
    if (found === undefined) {
      throw new AiError(
        'ai_unavailable',
        `the inference service does not serve the model "${model}"; the operator adds it to the model catalogue`,
        { model },
      );
    }
    if (found.state === 'unavailable') {
      throw new AiError(
        'ai_unavailable',
        `the model "${model}" cannot be served: ${found.unavailable_reason ?? 'the inference service says it is unavailable'}`,
        { model },
      );
    }
    return found;
  }

  /** Tokens of a text with the model's tokenizer. */
  async tokens(model: string, text: string): Promise<number> {
    try {
      return (await this.client.tokenize({ model, text })).tokens;
    } catch (err) {
      throw fromInferenceFailure(err);
    }
  }

  /** Tokens of a whole chat as the model's template renders it. */
  async chatTokens(
    model: string,
    messages: Array<{ role: 'system' | 'user' | 'assistant'; content: string }>,
  ): Promise<number> {
    try {
      return (await this.client.tokenize({ model, messages })).tokens;
    } catch (err) {
      throw fromInferenceFailure(err);
    }
  }

  /** The template's overhead, measured once per model: one and two short messages against their text. */
  overhead(model: string): Promise<TemplateOverhead> {
    let p = this.overheads.get(model);
    if (p === undefined) {
      p = this.measure(model);
      this.overheads.set(model, p);
      p.catch(() => this.overheads.delete(model));
    }
    return p;
  }

  private async measure(model: string): Promise<TemplateOverhead> {
    const text = 'x';
    const [plain, one, two] = await Promise.all([
      this.tokens(model, text),
      this.chatTokens(model, [{ role: 'user', content: text }]),
      this.chatTokens(model, [
        { role: 'user', content: text },
        { role: 'assistant', content: text },
      ]),
    ]);
    const perMessage = Math.max(0, two - one - plain);
    return { perMessage, fixed: Math.max(0, one - plain - perMessage) };
  }
}
