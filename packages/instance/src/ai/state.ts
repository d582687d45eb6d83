import type { Database } from 'better-sqlite3';
import { MemoryStore } from './memory.js';
import { RetrievalIndex } from './retrieval.js';
import { ensureAiSchema } from './schema.js';
import { ThreadStore } from './threads.js';
import { UsageMeter } from './usage.js';

/**
 * Everything the assistant keeps in the instance database: threads and messages, memory items,
 * monthly usage and the retrieval index. The Instance owns one (it keeps the retrieval index in
 * step with its writes); the assistant, the embedder and the AI routes use it after the access
 * was checked and audited (Instance.aiAction).
 */
export class AiState {
  readonly threads: ThreadStore;
  readonly memory: MemoryStore;
  readonly usage: UsageMeter;
  readonly retrieval: RetrievalIndex;
  /**
   * Creates the tables that are missing. `indexExisting` runs when the retrieval index is new (in
   * the same transaction): it hands every object already stored to retrieval.objectWritten.
   */
  constructor(
    readonly db: Database,
    now: () => number,
    indexExisting: (index: RetrievalIndex) => void,
  ) {
    this.threads = new ThreadStore(db, now);
    this.memory = new MemoryStore(db, now);
    this.usage = new UsageMeter(db, now);
    this.retrieval = new RetrievalIndex(db);
    ensureAiSchema(db, () => indexExisting(this.retrieval));
  }

  /** Runs `fn` in one transaction (a savepoint inside a caller's). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }
}
