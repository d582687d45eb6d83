import { randomBytes } from 'node:crypto';
import type { Database } from 'better-sqlite3';
import type { Usage as TokenUsage } from '@self/ai';
import { AiError } from './errors.js';

/**
 * Threads and their messages (tables in schema.ts). Messages are never rewritten: a reply cut short
 * stays as it arrived, marked `incomplete`. A thread keeps running totals (message_count,
 * token_count) so that opening it reads its newest page and nothing else.
 */

export type MessageRole = 'user' | 'assistant';
export type MessageStatus = 'complete' | 'incomplete';
export type ContextMode = 'full' | 'summary' | 'window';

/** What the model was given besides the newest messages, and what was left out (never silently). */
export interface ContextReport {
  mode: ContextMode;
  omitted_messages: number;
  summarized_messages: number;
  note: string;
}

/** A source given to the model, numbered as the model was told to cite it: [n]. */
export interface Citation {
  n: number;
  collection: string;
  key: string;
  snippet: string;
}

/** Stored with each message (JSON). Never holds anything but what the person may see. */
export interface MessageMeta {
  model?: string;
  usage?: TokenUsage;
  citations?: Citation[];
  context?: ContextReport;
  /** Why a reply is incomplete (a stable code). */
  error?: string;
  /** Memory items this message created. */
  memory_ids?: number[];
}

export interface ThreadRecord {
  id: string;
  title: string | null;
  createdAt: number;
  updatedAt: number;
  summary: string | null;
  /** The last message id the summary stands for (summarized or, beyond what fit, omitted). */
  summaryUpto: number | null;
  /** How many messages the summary summarizes. */
  summaryMessages: number;
  messageCount: number;
  tokenCount: number;
}

export interface MessageRecord {
  id: number;
  threadId: string;
  role: MessageRole;
  content: string;
  tokens: number;
  status: MessageStatus;
  createdAt: number;
  meta: MessageMeta;
}

/** A message's size without its text, for planning a prompt. */
export interface MessageSize {
  id: number;
  tokens: number;
}

export interface MessagePage {
  /** Oldest first. */
  messages: MessageRecord[];
  /** Whether older messages exist before the first one here. */
  hasMore: boolean;
}

export interface ThreadPage {
  /** Most recently updated first. */
  threads: ThreadRecord[];
  /** Pass as `before` for the next page; null on the last. */
  cursor: string | null;
}

export const THREAD_ID_RE = /^th_[0-9a-f]{24}$/;
export const MESSAGE_PAGE_DEFAULT = 50;
export const MESSAGE_PAGE_MAX = 200;
export const THREAD_PAGE_DEFAULT = 50;
export const THREAD_PAGE_MAX = 200;

interface ThreadRow {
  id: string;
  title: string | null;
  created_at: number;
  updated_at: number;
  summary: string | null;
  summary_upto: number | null;
  summary_messages: number;
  message_count: number;
  token_count: number;
}

interface MessageRow {
  id: number;
  thread_id: string;
  role: MessageRole;
  content: string;
  tokens: number;
  status: MessageStatus;
  created_at: number;
  meta: string;
}

const THREAD_COLS =
  'id, title, created_at, updated_at, summary, summary_upto, summary_messages, message_count, token_count';
const MESSAGE_COLS = 'id, thread_id, role, content, tokens, status, created_at, meta';

function prepare(db: Database) {
  return {
    insertThread: db.prepare<[string, string | null, number, number]>(
      'INSERT INTO ai_threads (id, title, created_at, updated_at) VALUES (?, ?, ?, ?)',
    ),
    thread: db.prepare<[string], ThreadRow>(`SELECT ${THREAD_COLS} FROM ai_threads WHERE id = ?`),
    threads: db.prepare<[number, string, number], ThreadRow>(
      `SELECT ${THREAD_COLS} FROM ai_threads WHERE (updated_at, id) < (?, ?)
       ORDER BY updated_at DESC, id DESC LIMIT ?`,
    ),
    setTitle: db.prepare<[string | null, number, string]>(
      'UPDATE ai_threads SET title = ?, updated_at = ? WHERE id = ?',
    ),
    deleteThread: db.prepare<[string]>('DELETE FROM ai_threads WHERE id = ?'),
    deleteMessages: db.prepare<[string]>('DELETE FROM ai_messages WHERE thread_id = ?'),
    insertMessage: db.prepare<[string, MessageRole, string, number, MessageStatus, number, string]>(
      'INSERT INTO ai_messages (thread_id, role, content, tokens, status, created_at, meta) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    countMessage: db.prepare<[number, number, string]>(
      'UPDATE ai_threads SET message_count = message_count + 1, token_count = token_count + ?, updated_at = ? WHERE id = ?',
    ),
    message: db.prepare<[number], MessageRow>(`SELECT ${MESSAGE_COLS} FROM ai_messages WHERE id = ?`),
    // Both walk the (thread_id, id) index backwards from `before`: one range scan, however long
    // the thread.
    pageBefore: db.prepare<[string, number, number], MessageRow>(
      `SELECT ${MESSAGE_COLS} FROM ai_messages WHERE thread_id = ? AND id < ? ORDER BY id DESC LIMIT ?`,
    ),
    sizesAfter: db.prepare<[string, number], MessageSize>(
      'SELECT id, tokens FROM ai_messages WHERE thread_id = ? AND id > ? ORDER BY id',
    ),
    range: db.prepare<[string, number, number], MessageRow>(
      `SELECT ${MESSAGE_COLS} FROM ai_messages WHERE thread_id = ? AND id >= ? AND id <= ? ORDER BY id`,
    ),
    countUpTo: db
      .prepare<[string, number], number>('SELECT count(*) FROM ai_messages WHERE thread_id = ? AND id <= ?')
      .pluck(),
    setSummary: db.prepare<[string, number, number, string]>(
      'UPDATE ai_threads SET summary = ?, summary_upto = ?, summary_messages = ? WHERE id = ?',
    ),
    // For the export: the primary key's order, and the (thread_id, id) index's.
    allThreads: db.prepare<[], ThreadRow>(`SELECT ${THREAD_COLS} FROM ai_threads ORDER BY id`),
    threadMessages: db.prepare<[string], MessageRow>(
      `SELECT ${MESSAGE_COLS} FROM ai_messages WHERE thread_id = ? ORDER BY id`,
    ),
  };
}

function toThread(row: ThreadRow): ThreadRecord {
  return {
    id: row.id,
    title: row.title,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    summary: row.summary,
    summaryUpto: row.summary_upto,
    summaryMessages: row.summary_messages,
    messageCount: row.message_count,
    tokenCount: row.token_count,
  };
}

function toMessage(row: MessageRow): MessageRecord {
  let meta: MessageMeta;
  try {
    meta = JSON.parse(row.meta) as MessageMeta;
  } catch {
    meta = {};
  }
  return {
    id: row.id,
    threadId: row.thread_id,
    role: row.role,
    content: row.content,
    tokens: row.tokens,
    status: row.status,
    createdAt: row.created_at,
    meta,
  };
}

function threadCursor(t: ThreadRecord): string {
  return `${t.updatedAt}.${t.id}`;
}

function parseThreadCursor(cursor: string): [number, string] {
  const m = /^(\d{1,16})\.(th_[0-9a-f]{24})$/.exec(cursor);
  if (m === null)
    throw new AiError('invalid_argument', 'this thread cursor is not one the instance gave out');
  return [Number(m[1]), m[2]!];
}

function notFound(id: string): AiError {
  return new AiError('not_found', `there is no thread ${id}`, { thread_id: id });
}

export class ThreadStore {
  private stmts: ReturnType<typeof prepare> | null = null;

  constructor(
    private readonly db: Database,
    private readonly now: () => number,
  ) {}

  // Prepared on first use: an instance that never chats never pays for them.
  private get stmt(): ReturnType<typeof prepare> {
    this.stmts ??= prepare(this.db);
    return this.stmts;
  }

  create(title: string | null): ThreadRecord {
    const id = `th_${randomBytes(12).toString('hex')}`;
    const now = this.now();
    this.stmt.insertThread.run(id, title, now, now);
    return this.require(id);
  }

  get(id: string): ThreadRecord | null {
    if (!THREAD_ID_RE.test(id)) return null;
    const row = this.stmt.thread.get(id);
    return row === undefined ? null : toThread(row);
  }

  /** The thread; AiError not_found when there is none. */
  require(id: string): ThreadRecord {
    const t = this.get(id);
    if (t === null) throw notFound(id);
    return t;
  }

  list(opts: { limit?: number; before?: string } = {}): ThreadPage {
    const limit = Math.min(opts.limit ?? THREAD_PAGE_DEFAULT, THREAD_PAGE_MAX);
    const [at, id] =
      opts.before === undefined ? [Number.MAX_SAFE_INTEGER, '~'] : parseThreadCursor(opts.before);
    const rows = this.stmt.threads.all(at, id, limit + 1);
    const threads = rows.slice(0, limit).map(toThread);
    const last = threads.at(-1);
    return { threads, cursor: rows.length > limit && last !== undefined ? threadCursor(last) : null };
  }

  setTitle(id: string, title: string | null): ThreadRecord {
    this.require(id);
    this.stmt.setTitle.run(title, this.now(), id);
    return this.require(id);
  }

  delete(id: string): void {
    this.require(id);
    this.db.transaction(() => {
      this.stmt.deleteMessages.run(id);
      this.stmt.deleteThread.run(id);
    })();
  }

  /** Appends a message and counts it on its thread, in one transaction. */
  addMessage(
    threadId: string,
    m: { role: MessageRole; content: string; tokens: number; status: MessageStatus; meta: MessageMeta },
  ): MessageRecord {
    return this.db.transaction(() => {
      this.require(threadId);
      const now = this.now();
      const { lastInsertRowid } = this.stmt.insertMessage.run(
        threadId,
        m.role,
        m.content,
        m.tokens,
        m.status,
        now,
        JSON.stringify(m.meta),
      );
      this.stmt.countMessage.run(m.tokens, now, threadId);
      return this.message(Number(lastInsertRowid))!;
    })();
  }

  message(id: number): MessageRecord | null {
    const row = this.stmt.message.get(id);
    return row === undefined ? null : toMessage(row);
  }

  /**
   * The newest `limit` messages before message `before` (all of them when absent), oldest first,
   * and whether there are older ones.
   */
  page(threadId: string, opts: { before?: number; limit?: number } = {}): MessagePage {
    const limit = Math.min(opts.limit ?? MESSAGE_PAGE_DEFAULT, MESSAGE_PAGE_MAX);
    const rows = this.stmt.pageBefore.all(threadId, opts.before ?? Number.MAX_SAFE_INTEGER, limit + 1);
    const messages = rows.slice(0, limit).map(toMessage).reverse();
    return { messages, hasMore: rows.length > limit };
  }

  /** Ids and token counts of the thread's messages after message `afterId` (0: all), oldest first. */
  sizesAfter(threadId: string, afterId: number): MessageSize[] {
    return this.stmt.sizesAfter.all(threadId, afterId);
  }

  /** The thread's messages with ids from `fromId` to `toId`, oldest first. */
  range(threadId: string, fromId: number, toId: number): MessageRecord[] {
    return this.stmt.range.all(threadId, fromId, toId).map(toMessage);
  }

  /** How many of the thread's messages have ids up to `id`. */
  countUpTo(threadId: string, id: number): number {
    return this.stmt.countUpTo.get(threadId, id) ?? 0;
  }

  setSummary(threadId: string, summary: string, upto: number, summarizedMessages: number): void {
    this.stmt.setSummary.run(summary, upto, summarizedMessages, threadId);
  }

  /**
   * Every thread, by id, read one row at a time (the export). Read-only; the connection's writes
   * wait until the iteration ends or is abandoned (`return()`, as `for…of` does on a throw).
   */
  *iterateThreads(): Generator<ThreadRecord, void, undefined> {
    for (const row of this.stmt.allThreads.iterate()) yield toThread(row);
  }

  /** The thread's messages, oldest first, read one row at a time (the export; as iterateThreads). */
  *iterateMessages(threadId: string): Generator<MessageRecord, void, undefined> {
    for (const row of this.stmt.threadMessages.iterate(threadId)) yield toMessage(row);
  }
}
