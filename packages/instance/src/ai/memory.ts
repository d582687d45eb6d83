import type { Database } from 'better-sqlite3';
import { AiError } from './errors.js';
import { ftsQuery } from './fts-query.js';
import { MEMORY_MAX_CHARS, memoryNorm } from './memory-proposals.js';

/**
 * Memory items: short facts the assistant keeps about the person, proposed from their messages
 * (memory-proposals.ts) or written by them, and always theirs to see, edit and delete. Each item is
 * also in a full-text index so that, once there are many, a chat gets the ones relevant to it.
 */

export interface MemoryItem {
  id: number;
  content: string;
  sourceThread: string | null;
  sourceMessage: number | null;
  createdAt: number;
  updatedAt: number;
}

export interface MemorySource {
  thread: string;
  message: number;
}

/** Given to the model whole up to this many items; beyond it, the most relevant this many. */
export const MEMORY_PROMPT_MAX = 20;
export const MEMORY_LIST_MAX = 1000;

interface MemoryRow {
  id: number;
  content: string;
  source_thread: string | null;
  source_message: number | null;
  created_at: number;
  updated_at: number;
}

const COLS = 'id, content, source_thread, source_message, created_at, updated_at';

function prepare(db: Database) {
  return {
    all: db.prepare<[number], MemoryRow>(`SELECT ${COLS} FROM ai_memory ORDER BY id LIMIT ?`),
    get: db.prepare<[number], MemoryRow>(`SELECT ${COLS} FROM ai_memory WHERE id = ?`),
    byNorm: db.prepare<[string], MemoryRow>(`SELECT ${COLS} FROM ai_memory WHERE norm = ?`),
    count: db.prepare<[], number>('SELECT count(*) FROM ai_memory').pluck(),
    insert: db.prepare<[string, string, string | null, number | null, number, number]>(
      'INSERT INTO ai_memory (content, norm, source_thread, source_message, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    update: db.prepare<[string, string, number, number]>(
      'UPDATE ai_memory SET content = ?, norm = ?, updated_at = ? WHERE id = ?',
    ),
    remove: db.prepare<[number]>('DELETE FROM ai_memory WHERE id = ?'),
    ftsInsert: db.prepare<[number, string]>('INSERT INTO ai_memory_fts (rowid, content) VALUES (?, ?)'),
    ftsRemove: db.prepare<[number]>('DELETE FROM ai_memory_fts WHERE rowid = ?'),
    search: db
      .prepare<[string, number], number>(
        'SELECT rowid FROM ai_memory_fts WHERE ai_memory_fts MATCH ? ORDER BY bm25(ai_memory_fts) LIMIT ?',
      )
      .pluck(),
    recent: db.prepare<[number], MemoryRow>(`SELECT ${COLS} FROM ai_memory ORDER BY updated_at DESC LIMIT ?`),
    every: db.prepare<[], MemoryRow>(`SELECT ${COLS} FROM ai_memory ORDER BY id`),
  };
}

function toItem(row: MemoryRow): MemoryItem {
  return {
    id: row.id,
    content: row.content,
    sourceThread: row.source_thread,
    sourceMessage: row.source_message,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function checkContent(content: string): string {
  const text = content.trim();
  if (text.length === 0 || text.length > MEMORY_MAX_CHARS) {
    throw new AiError('invalid_argument', `a memory item is 1 to ${MEMORY_MAX_CHARS} characters of text`);
  }
  return text;
}

export class MemoryStore {
  private stmts: ReturnType<typeof prepare> | null = null;

  constructor(
    private readonly db: Database,
    private readonly now: () => number,
  ) {}

  private get stmt(): ReturnType<typeof prepare> {
    this.stmts ??= prepare(this.db);
    return this.stmts;
  }

  /** Every item, oldest first (at most MEMORY_LIST_MAX). */
  list(): MemoryItem[] {
    return this.stmt.all.all(MEMORY_LIST_MAX).map(toItem);
  }

  /**
   * Every item, oldest first, with no limit, read one row at a time (the export). Read-only; the
   * connection's writes wait until the iteration ends or is abandoned.
   */
  *iterateAll(): Generator<MemoryItem, void, undefined> {
    for (const row of this.stmt.every.iterate()) yield toItem(row);
  }

  count(): number {
    return this.stmt.count.get() ?? 0;
  }

  get(id: number): MemoryItem | null {
    const row = this.stmt.get.get(id);
    return row === undefined ? null : toItem(row);
  }

  /**
   * Stores an item, or finds the one that says the same (ignoring case and spacing): `created`
   * tells which.
   */
  create(content: string, source: MemorySource | null = null): { item: MemoryItem; created: boolean } {
    const text = checkContent(content);
    const norm = memoryNorm(text);
    return this.db.transaction(() => {
      const existing = this.stmt.byNorm.get(norm);
      if (existing !== undefined) return { item: toItem(existing), created: false };
      const now = this.now();
      const { lastInsertRowid } = this.stmt.insert.run(
        text,
        norm,
        source?.thread ?? null,
        source?.message ?? null,
        now,
        now,
      );
      const id = Number(lastInsertRowid);
      this.stmt.ftsInsert.run(id, text);
      return { item: this.get(id)!, created: true };
    })();
  }

  update(id: number, content: string): MemoryItem {
    const text = checkContent(content);
    const norm = memoryNorm(text);
    return this.db.transaction(() => {
      if (this.get(id) === null) throw notFound(id);
      const same = this.stmt.byNorm.get(norm);
      if (same !== undefined && same.id !== id) {
        throw new AiError('memory_duplicate', `memory item ${same.id} already says this`, { id: same.id });
      }
      this.stmt.update.run(text, norm, this.now(), id);
      this.stmt.ftsRemove.run(id);
      this.stmt.ftsInsert.run(id, text);
      return this.get(id)!;
    })();
  }

  delete(id: number): void {
    this.db.transaction(() => {
      if (this.get(id) === null) throw notFound(id);
      this.stmt.remove.run(id);
      this.stmt.ftsRemove.run(id);
    })();
  }

  /**
   * The items a chat about `text` is given: all of them while there are at most `max`; beyond that
   * the `max` most relevant by full-text rank, topped up with the most recently updated.
   */
  relevant(text: string, max = MEMORY_PROMPT_MAX): MemoryItem[] {
    if (this.count() <= max) return this.list();
    const picked = new Map<number, MemoryItem>();
    const query = ftsQuery(text);
    if (query !== null) {
      for (const id of this.stmt.search.all(query, max)) {
        const item = this.get(id);
        if (item !== null) picked.set(id, item);
      }
    }
    for (const row of this.stmt.recent.all(max)) {
      if (picked.size >= max) break;
      if (!picked.has(row.id)) picked.set(row.id, toItem(row));
    }
    return [...picked.values()];
  }
}

function notFound(id: number): AiError {
  return new AiError('not_found', `there is no memory item ${id}`, { id });
}
