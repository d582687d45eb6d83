import type { Database } from 'better-sqlite3';

/**
 * Metering: prompt and completion tokens per UTC calendar month, against the tier's monthly budget.
 * Every inference the instance asks for is metered here: chat replies (complete or cut short),
 * the summaries that keep long threads in the context, and the OpenAI-compatible routes.
 */

export interface MonthUsage {
  /** 'YYYY-MM', UTC. */
  month: string;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  requests: number;
}

/** Where this month stands against the budget. */
export interface BudgetState {
  /** Prompt + completion tokens this month. */
  used: number;
  /** Tokens per month; null: unlimited. */
  budget: number | null;
  /** When the month's count starts again (ISO 8601, UTC). */
  resets_at: string;
}

/** The UTC month of a time: 'YYYY-MM'. */
export function utcMonth(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}

/** The first instant of the next UTC month, ISO 8601. */
export function nextMonthStart(ms: number): string {
  const d = new Date(ms);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)).toISOString();
}

/** One month's stored counts (the export's `ai.usage` record). */
export interface UsageRow {
  /** 'YYYY-MM', UTC. */
  month: string;
  prompt_tokens: number;
  completion_tokens: number;
  requests: number;
}

function prepare(db: Database) {
  return {
    get: db.prepare<[string], UsageRow>(
      'SELECT month, prompt_tokens, completion_tokens, requests FROM ai_usage WHERE month = ?',
    ),
    recent: db.prepare<[number], UsageRow>(
      'SELECT month, prompt_tokens, completion_tokens, requests FROM ai_usage ORDER BY month DESC LIMIT ?',
    ),
    every: db.prepare<[], UsageRow>(
      'SELECT month, prompt_tokens, completion_tokens, requests FROM ai_usage ORDER BY month',
    ),
    add: db.prepare<[string, number, number]>(
      `INSERT INTO ai_usage (month, prompt_tokens, completion_tokens, requests) VALUES (?, ?, ?, 1)
       ON CONFLICT (month) DO UPDATE SET prompt_tokens = prompt_tokens + excluded.prompt_tokens,
         completion_tokens = completion_tokens + excluded.completion_tokens, requests = requests + 1`,
    ),
  };
}

function toUsage(row: UsageRow): MonthUsage {
  return {
    month: row.month,
    prompt_tokens: row.prompt_tokens,
    completion_tokens: row.completion_tokens,
    total_tokens: row.prompt_tokens + row.completion_tokens,
    requests: row.requests,
  };
}

export class UsageMeter {
  private stmts: ReturnType<typeof prepare> | null = null;

  constructor(
    private readonly db: Database,
    private readonly now: () => number,
  ) {}

  private get stmt(): ReturnType<typeof prepare> {
    this.stmts ??= prepare(this.db);
    return this.stmts;
  }

  /** Counts one inference's tokens in the current month. */
  record(promptTokens: number, completionTokens: number): void {
    const clamp = (n: number): number => (Number.isFinite(n) && n > 0 ? Math.round(n) : 0);
    this.stmt.add.run(utcMonth(this.now()), clamp(promptTokens), clamp(completionTokens));
  }

  /** This month's usage. */
  current(): MonthUsage {
    const month = utcMonth(this.now());
    const row = this.stmt.get.get(month);
    return row === undefined
      ? { month, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, requests: 0 }
      : toUsage(row);
  }

  /** The last `months` months that saw any use, newest first. */
  history(months = 12): MonthUsage[] {
    return this.stmt.recent.all(months).map(toUsage);
  }

  /**
   * Every month that saw any use, oldest first, read one row at a time (the export). Read-only; the
   * connection's writes wait until the iteration ends or is abandoned.
   */
  *iterateMonths(): Generator<UsageRow, void, undefined> {
    for (const row of this.stmt.every.iterate()) {
      yield {
        month: row.month,
        prompt_tokens: row.prompt_tokens,
        completion_tokens: row.completion_tokens,
        requests: row.requests,
      };
    }
  }

  budget(monthlyBudget: number | null): BudgetState {
    return {
      used: this.current().total_tokens,
      budget: monthlyBudget,
      resets_at: nextMonthStart(this.now()),
    };
  }
}
