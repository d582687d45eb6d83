/**
 * Group commit for the instance's HTTP API. Every access writes an audit entry, so every request is
 * a database transaction, and on an encrypted database the cost of a request is mostly its commit
 * (each dirty page is encrypted and authenticated, then appended to the WAL). Requests that arrive
 * together are run in one transaction instead: each keeps its own savepoint (its write and its audit
 * entry still commit or roll back together, and a failing request does not disturb the others), and
 * all of them are answered only after the shared commit. An acknowledged request is therefore as
 * durable as before, and under load one commit serves many requests.
 */
export interface BatchRunner {
  /** Runs `fn` in one transaction, then does what must wait for its commit. */
  batch<T>(fn: () => T): T;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

interface Job {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class GroupCommit {
  private queue: Job[] = [];
  private scheduled = false;

  /** `maxBatch` bounds one transaction's work, so one batch cannot hold the event loop for long. */
  constructor(
    private readonly runner: BatchRunner,
    private readonly maxBatch = 256,
  ) {}

  /** Queues `run` for the next batch; settles with its result once that batch has committed. */
  submit<T>(run: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ run, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // setImmediate runs after the I/O callbacks of this loop turn: every request whose bytes
        // have arrived by now joins the batch.
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    const jobs = this.queue.splice(0, this.maxBatch);
    if (this.queue.length > 0) setImmediate(() => this.flush());
    else this.scheduled = false;
    if (jobs.length === 0) return;
    if (jobs.length === 1) {
      // Nothing to share: the job's own transaction is the batch.
      const job = jobs[0]!;
      try {
        job.resolve(job.run());
      } catch (error) {
        job.reject(error);
      }
      return;
    }
    let outcomes: Outcome[];
    try {
      outcomes = this.runner.batch(() =>
        jobs.map((job): Outcome => {
          try {
            return { ok: true, value: job.run() };
          } catch (error) {
            return { ok: false, error };
          }
        }),
      );
    } catch (error) {
      // The shared commit failed (a full disk, an I/O error): nothing of the batch is stored.
      for (const job of jobs) job.reject(error);
      return;
    }
    jobs.forEach((job, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) job.resolve(outcome.value);
      else job.reject(outcome.error);
    });
  }
}
