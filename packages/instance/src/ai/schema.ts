import type { Database } from 'better-sqlite3';

/**
 * The assistant's tables in the instance's encrypted database, created if missing (like the audit
 * log's): a database from before the assistant gains them at its first open, and nothing here
 * touches the store's own `objects` and `meta`.
 *
 *   ai_threads    one row per conversation, with its running counts and its stored summary
 *   ai_messages   every message; (thread_id, id) is indexed so a thread's newest page is one range
 *                 scan however long the thread is
 *   ai_memory     what the assistant keeps about the person (seen, edited and deleted by them);
 *                 `norm` (lower case, single spaces) makes duplicates impossible
 *   ai_memory_fts full-text index of ai_memory (rowid = ai_memory.id)
 *   ai_usage      tokens used per UTC month ('YYYY-MM')
 *   ai_docs       the person's objects the retrieval index holds, with the etag indexed
 *   ai_docs_fts   their text (rowid = ai_docs.id)
 *   ai_vectors    their embeddings per model, keyed by the etag they were made from
 */

export const FTS_TOKENIZER = 'unicode61 remove_diacritics 2';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS ai_threads (
  id               TEXT PRIMARY KEY,
  title            TEXT,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  summary          TEXT,
  summary_upto     INTEGER,
  summary_messages INTEGER NOT NULL DEFAULT 0,
  message_count    INTEGER NOT NULL DEFAULT 0,
  token_count      INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ai_threads_by_update ON ai_threads (updated_at, id);

CREATE TABLE IF NOT EXISTS ai_messages (
  id         INTEGER PRIMARY KEY,
  thread_id  TEXT NOT NULL,
  role       TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
  content    TEXT NOT NULL,
  tokens     INTEGER NOT NULL,
  status     TEXT NOT NULL CHECK (status IN ('complete', 'incomplete')),
  created_at INTEGER NOT NULL,
  meta       TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS ai_messages_by_thread ON ai_messages (thread_id, id);

CREATE TABLE IF NOT EXISTS ai_memory (
  id             INTEGER PRIMARY KEY,
  content        TEXT NOT NULL,
  norm           TEXT NOT NULL UNIQUE,
  source_thread  TEXT,
  source_message INTEGER,
  created_at     INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL
) STRICT;
CREATE VIRTUAL TABLE IF NOT EXISTS ai_memory_fts USING fts5(content, tokenize = '${FTS_TOKENIZER}');

CREATE TABLE IF NOT EXISTS ai_usage (
  month             TEXT PRIMARY KEY,
  prompt_tokens     INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  requests          INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS ai_docs (
  id         INTEGER PRIMARY KEY,
  collection TEXT NOT NULL,
  key        TEXT NOT NULL,
  etag       TEXT NOT NULL,
  UNIQUE (collection, key)
) STRICT;
CREATE VIRTUAL TABLE IF NOT EXISTS ai_docs_fts USING fts5(body, tokenize = '${FTS_TOKENIZER}');

CREATE TABLE IF NOT EXISTS ai_vectors (
  doc_id INTEGER NOT NULL,
  model  TEXT NOT NULL,
  etag   TEXT NOT NULL,
  vector BLOB NOT NULL,
  PRIMARY KEY (doc_id, model)
) STRICT, WITHOUT ROWID;
`;

const TABLES = [
  'ai_threads',
  'ai_messages',
  'ai_memory',
  'ai_memory_fts',
  'ai_usage',
  'ai_docs',
  'ai_docs_fts',
  'ai_vectors',
];

/**
 * Creates what is missing. When this creates the retrieval index (ai_docs), `indexExisting` runs in
 * the same transaction: the objects stored before it existed are indexed once, and a crash in
 * between leaves neither the index nor a half of it.
 */
export function ensureAiSchema(db: Database, indexExisting: () => void): void {
  // One query at every open instead of parsing the whole schema: the instance process starts on a
  // person's request and every millisecond of its start is waited for.
  const present = new Set(
    db
      .prepare<string[], string>(
        `SELECT name FROM sqlite_master WHERE name IN (${TABLES.map(() => '?').join(', ')})`,
      )
      .pluck()
      .all(...TABLES),
  );
  if (present.size === TABLES.length) return;
  db.transaction(() => {
    db.exec(SCHEMA);
    if (!present.has('ai_docs')) indexExisting();
  }).immediate();
}
