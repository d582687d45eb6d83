import { Counter, Histogram, Registry } from 'prom-client';

/** The service's Prometheus metrics, on a registry of its own (several services per process in tests). */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'self_ai_requests_total',
    help: 'Inference requests answered, by route, model and status',
    labelNames: ['route', 'model', 'status'] as const,
    registers: [this.registry],
  });
  readonly promptTokens = new Counter({
    name: 'self_ai_prompt_tokens_total',
    help: 'Prompt tokens evaluated, by model',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  readonly generatedTokens = new Counter({
    name: 'self_ai_generated_tokens_total',
    help: 'Completion tokens generated, by model',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });
  readonly timeToFirstToken = new Histogram({
    name: 'self_ai_time_to_first_token_seconds',
    help: 'From the request to the first generated text, by model',
    labelNames: ['model'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
}
