import type { Database } from 'better-sqlite3';
import { ftsQuery } from './fts-query.js';
import { indexableText, isIndexableType } from './text-extract.js';

/**
 * The retrieval index over the person's own objects: those of the `person` namespace whose content
 * type is text/* or JSON (text-extract.ts), in an FTS5 table (unicode61, diacritics folded), plus
 * their embeddings when an embedding model is configured (embedder.ts fills ai_vectors in the
 * background). Instance.put and Instance.delete keep it current inside the write's own
 * transaction, so a write that rolls back leaves no index row, and the index never outlives the
 * object. Apps' namespaces, the `chat` collection and the assistant's own tables are never
 * sources: the assistant must not quote conversations back as documents.
 */

export interface SearchHit {
  collection: string;
  key: string;
  /** A short passage around the matched words (or the document's beginning for a vector hit). */
  snippet: string;
  /** Higher is better: bm25 relevance, or the reciprocal-rank fusion of bm25 and cosine. */
  score: number;
}

export interface SearchOptions {
  /** Most hits; default 5. */
  limit?: number;
  /** The query's embedding, made with `model`: fuses cosine similarity with the full-text rank. */
  vector?: { model: string; values: Float32Array } | null;
}

/** A document waiting for its embedding (embedder.ts). */
export interface PendingDoc {
  docId: number;
  etag: string;
  text: string;
}

/** Collections that are never retrieval sources. */
export const NOT_RETRIEVED = new Set(['chat']);

const SEARCH_DEFAULT_LIMIT = 5;
const SEARCH_MAX_LIMIT = 50;
/** Reciprocal rank fusion's constant (Cormack et al. 2009): damps the weight of the very top ranks. */
const RRF_K = 60;
/** Vector candidates below this cosine are noise, not neighbours. */
const MIN_COSINE = 0.2;
const SNIPPET_TOKENS = 24;
const LEAD_CHARS = 200;

interface DocRow {
  id: number;
  etag: string;
}

interface HitRow {
  id: number;
  collection: string;
  key: string;
  snippet: string;
  rank: number;
}

function prepare(db: Database) {
  return {
    doc: db.prepare<[string, string], DocRow>(
      'SELECT id, etag FROM ai_docs WHERE collection = ? AND key = ?',
    ),
    insertDoc: db.prepare<[string, string, string]>(
      'INSERT INTO ai_docs (collection, key, etag) VALUES (?, ?, ?)',
    ),
    setEtag: db.prepare<[string, number]>('UPDATE ai_docs SET etag = ? WHERE id = ?'),
    removeDoc: db.prepare<[number]>('DELETE FROM ai_docs WHERE id = ?'),
    ftsInsert: db.prepare<[number, string]>('INSERT INTO ai_docs_fts (rowid, body) VALUES (?, ?)'),
    ftsRemove: db.prepare<[number]>('DELETE FROM ai_docs_fts WHERE rowid = ?'),
    removeVectors: db.prepare<[number]>('DELETE FROM ai_vectors WHERE doc_id = ?'),
    search: db.prepare<[string, number], HitRow>(
      `SELECT d.id, d.collection, d.key,
              snippet(ai_docs_fts, 0, '', '', '…', ${SNIPPET_TOKENS}) AS snippet,
              bm25(ai_docs_fts) AS rank
       FROM ai_docs_fts JOIN ai_docs d ON d.id = ai_docs_fts.rowid
       WHERE ai_docs_fts MATCH ? ORDER BY rank LIMIT ?`,
    ),
    body: db.prepare<[number], string>('SELECT body FROM ai_docs_fts WHERE rowid = ?').pluck(),
    docById: db.prepare<[number], { collection: string; key: string }>(
      'SELECT collection, key FROM ai_docs WHERE id = ?',
    ),
    vectors: db.prepare<[string], { doc_id: number; vector: Uint8Array }>(
      `SELECT v.doc_id, v.vector FROM ai_vectors v JOIN ai_docs d ON d.id = v.doc_id AND d.etag = v.etag
       WHERE v.model = ?`,
    ),
    pending: db.prepare<[string, number], DocRow>(
      `SELECT d.id, d.etag FROM ai_docs d
       LEFT JOIN ai_vectors v ON v.doc_id = d.id AND v.model = ?
       WHERE v.etag IS NULL OR v.etag <> d.etag ORDER BY d.id LIMIT ?`,
    ),
    putVector: db.prepare<[number, string, string, Uint8Array]>(
      `INSERT INTO ai_vectors (doc_id, model, etag, vector) VALUES (?, ?, ?, ?)
       ON CONFLICT (doc_id, model) DO UPDATE SET etag = excluded.etag, vector = excluded.vector`,
    ),
    docEtag: db.prepare<[number], string>('SELECT etag FROM ai_docs WHERE id = ?').pluck(),
    countDocs: db.prepare<[], number>('SELECT count(*) FROM ai_docs').pluck(),
    countVectors: db
      .prepare<[string], number>(
        `SELECT count(*) FROM ai_vectors v JOIN ai_docs d ON d.id = v.doc_id AND d.etag = v.etag WHERE v.model = ?`,
      )
      .pluck(),
  };
}

function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length || a.length === 0) return 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

function vectorBytes(v: Float32Array): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function vectorOf(bytes: Uint8Array): Float32Array {
  // Copied: a Buffer from SQLite need not be 4-byte aligned.
  return new Float32Array(Uint8Array.from(bytes).buffer);
}

export class RetrievalIndex {
  private stmts: ReturnType<typeof prepare> | null = null;
  /** Called after an indexed document changed (the embedder wakes up); may run inside a transaction. */
  onChange: (() => void) | null = null;

  constructor(private readonly db: Database) {}

  private get stmt(): ReturnType<typeof prepare> {
    this.stmts ??= prepare(this.db);
    return this.stmts;
  }

  /**
   * Brings the index in line with a person object just written: indexes its text, or drops it from
   * the index when it is no longer indexable. Run inside the write's transaction.
   */
  objectWritten(collection: string, key: string, value: Uint8Array, contentType: string, etag: string): void {
    const text =
      NOT_RETRIEVED.has(collection) || !isIndexableType(contentType)
        ? null
        : indexableText(value, contentType);
    const doc = this.stmt.doc.get(collection, key);
    if (text === null) {
      if (doc !== undefined) this.removeDoc(doc.id);
      return;
    }
    if (doc !== undefined && doc.etag === etag) return;
    let id: number;
    if (doc === undefined) {
      id = Number(this.stmt.insertDoc.run(collection, key, etag).lastInsertRowid);
    } else {
      id = doc.id;
      this.stmt.setEtag.run(etag, id);
      this.stmt.ftsRemove.run(id);
    }
    this.stmt.ftsInsert.run(id, text);
    this.onChange?.();
  }

  /** Drops a deleted person object from the index. Run inside the delete's transaction. */
  objectDeleted(collection: string, key: string): void {
    const doc = this.stmt.doc.get(collection, key);
    if (doc !== undefined) this.removeDoc(doc.id);
  }

  private removeDoc(id: number): void {
    this.stmt.ftsRemove.run(id);
    this.stmt.removeVectors.run(id);
    this.stmt.removeDoc.run(id);
  }

  /**
   * The person's documents that best match `query` (their words, never FTS syntax: fts-query.ts).
   * With a query vector, full-text and cosine rankings are fused by reciprocal rank.
   */
  search(query: string, opts: SearchOptions = {}): SearchHit[] {
    const limit = Math.max(1, Math.min(opts.limit ?? SEARCH_DEFAULT_LIMIT, SEARCH_MAX_LIMIT));
    const match = ftsQuery(query);
    const candidates = limit * 2;
    const fts = match === null ? [] : this.stmt.search.all(match, candidates);
    if (opts.vector === undefined || opts.vector === null) {
      return fts.slice(0, limit).map((h) => ({
        collection: h.collection,
        key: h.key,
        snippet: h.snippet,
        score: -h.rank,
      }));
    }
    if (match === null && query.trim().length === 0) return [];
    const nearest = this.nearest(opts.vector.model, opts.vector.values, candidates);
    const fused = new Map<number, { score: number; hit: HitRow | null }>();
    fts.forEach((h, i) => fused.set(h.id, { score: 1 / (RRF_K + i + 1), hit: h }));
    nearest.forEach((docId, i) => {
      const entry = fused.get(docId) ?? { score: 0, hit: null };
      entry.score += 1 / (RRF_K + i + 1);
      fused.set(docId, entry);
    });
    const out: SearchHit[] = [];
    for (const [docId, { score, hit }] of [...fused].sort((a, b) => b[1].score - a[1].score)) {
      if (out.length >= limit) break;
      if (hit !== null) {
        out.push({ collection: hit.collection, key: hit.key, snippet: hit.snippet, score });
        continue;
      }
      const doc = this.stmt.docById.get(docId);
      if (doc === undefined) continue;
      out.push({ ...doc, snippet: this.lead(docId), score });
    }
    return out;
  }

  /** Doc ids by cosine similarity to `query`, best first, above MIN_COSINE. */
  private nearest(model: string, query: Float32Array, limit: number): number[] {
    const scored: Array<[number, number]> = [];
    for (const row of this.stmt.vectors.iterate(model)) {
      const c = cosine(query, vectorOf(row.vector));
      if (c >= MIN_COSINE) scored.push([row.doc_id, c]);
    }
    return scored
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([id]) => id);
  }

  private lead(docId: number): string {
    const body = this.stmt.body.get(docId) ?? '';
    return body.length <= LEAD_CHARS ? body : `${body.slice(0, LEAD_CHARS)}…`;
  }

  /** The indexed text of a document (up to `maxChars`), or null when it is not indexed. */
  text(collection: string, key: string, maxChars: number): string | null {
    const doc = this.stmt.doc.get(collection, key);
    if (doc === undefined) return null;
    const body = this.stmt.body.get(doc.id) ?? '';
    return body.length <= maxChars ? body : `${body.slice(0, maxChars)}…`;
  }

  /** Documents without a current embedding from `model`, oldest first, with their text. */
  pendingEmbeddings(model: string, limit: number, maxChars: number): PendingDoc[] {
    return this.stmt.pending.all(model, limit).map((d) => {
      const body = this.stmt.body.get(d.id) ?? '';
      return { docId: d.id, etag: d.etag, text: body.slice(0, maxChars) };
    });
  }

  /**
   * Stores a document's embedding, unless the document changed or went away since its text was
   * read (its etag moved on): then the next round embeds the new text. Returns whether it stored.
   */
  storeEmbedding(docId: number, etag: string, model: string, vector: Float32Array): boolean {
    if (this.stmt.docEtag.get(docId) !== etag) return false;
    this.stmt.putVector.run(docId, model, etag, vectorBytes(vector));
    return true;
  }

  documentCount(): number {
    return this.stmt.countDocs.get() ?? 0;
  }

  /** Documents with a current embedding from `model`. */
  embeddedCount(model: string): number {
    return this.stmt.countVectors.get(model) ?? 0;
  }
}
