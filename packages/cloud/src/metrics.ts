import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type SignupOutcome = 'ok' | 'exists' | 'invalid' | 'failed';
export type SigninOutcome = 'ok' | 'refused' | 'failed';

/** The gateway's Prometheus metrics, in a registry of its own (served at /metrics). */
export class CloudMetrics {
  readonly registry = new Registry();
  private readonly signups: Counter<'outcome'>;
  private readonly signins: Counter<'outcome'>;
  private readonly forwarded: Counter<'status'>;
  private readonly forwardSeconds: Histogram;
  private readonly forwardedByStatus = new Map<number, { inc(): void }>();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'self_cloud_' });
    this.signups = new Counter({
      name: 'self_cloud_signups_total',
      help: 'Sign-ups by outcome (ok, exists, invalid, failed)',
      labelNames: ['outcome'],
      registers: [this.registry],
    });
    this.signins = new Counter({
      name: 'self_cloud_signins_total',
      help: 'Sign-in attempts (POST /v1/auth/session) by outcome (ok, refused, failed)',
      labelNames: ['outcome'],
      registers: [this.registry],
    });
    this.forwarded = new Counter({
      name: 'self_cloud_forwarded_requests_total',
      help: 'Requests forwarded to instances, by the HTTP status answered',
      labelNames: ['status'],
      registers: [this.registry],
    });
    this.forwardSeconds = new Histogram({
      name: 'self_cloud_forward_duration_seconds',
      help: 'Time from a request reaching the gateway to its instance answering, for forwarded requests',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
  }

  signup(outcome: SignupOutcome): void {
    this.signups.inc({ outcome });
  }

  signin(outcome: SigninOutcome): void {
    this.signins.inc({ outcome });
  }

  /** One forwarded request: its status and its duration in seconds. */
  forward(status: number, seconds: number): void {
    let child = this.forwardedByStatus.get(status);
    if (!child) {
      child = this.forwarded.labels(String(status));
      this.forwardedByStatus.set(status, child);
    }
    child.inc();
    this.forwardSeconds.observe(seconds);
  }
}
