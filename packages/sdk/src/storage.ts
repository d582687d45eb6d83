import { SELFError } from './errors.js';
import { readJson } from './http.js';
import type { InstanceClient } from './instance.js';
import { isJsonObject, numberField, stringField, type JsonValue } from './json.js';

/** The collection `session.storage` uses in the app's own namespace. */
export const DEFAULT_COLLECTION = 'default';

// The instance's collection grammar (the chain's scope grammar), checked here to fail early.
const COLLECTION = /^[a-z][a-z0-9_-]{0,31}$/;

/** What {@link SELFCollection.save} takes. */
export interface SaveOptions {
  /** The key: 1–512 bytes of UTF-8, no control characters, no leading or trailing spaces. */
  key: string;
  /** Any JSON value; stored as `application/json`. */
  value: JsonValue;
  /**
   * Always `true`: every instance encrypts everything at rest with the person's data key, so
   * there is no unencrypted option. `false` is refused rather than silently ignored.
   */
  encrypted?: true;
  /** Write only if the object's current etag is this one (optimistic concurrency); else INVALID_REQUEST `conflict`. */
  ifMatch?: string;
  /** Aborts the request. */
  signal?: AbortSignal;
}

/** What a save answers. */
export interface SaveResult {
  /** The key written. */
  key: string;
  /** The object's version after the write (1 for a new object). */
  version: number;
  /** The object's etag after the write (hex SHA-256 of the stored bytes). */
  etag: string;
  /** The stored size in bytes. */
  size: number;
}

/** What {@link SELFCollection.list} takes. */
export interface ListOptions {
  /** Only keys starting with this. */
  prefix?: string;
  /** At most this many items (1–1000; the instance's default is 100). */
  limit?: number;
  /** The `cursor` of the previous page. */
  cursor?: string;
  /** Aborts the request. */
  signal?: AbortSignal;
}

/** One object in a listing (its value is not included: `get` it). */
export interface StoredItem {
  /** The key. */
  key: string;
  /** Size in bytes. */
  size: number;
  /** Hex SHA-256 of the value. */
  etag: string;
  /** Version, counting from 1. */
  version: number;
  /** Last write, milliseconds since the epoch. */
  updatedAt: number;
  /** The content type it was stored with. */
  contentType: string;
}

/** A page of a listing: keys in byte order. */
export interface ListResult {
  /** The items of this page. */
  items: StoredItem[];
  /** Pass as `cursor` for the next page; null on the last page. */
  cursor: string | null;
}

/** An object's raw bytes, for values that are not JSON or text. */
export interface StoredBytes {
  /** The key. */
  key: string;
  /** The value as stored. */
  bytes: Uint8Array;
  /** Its content type. */
  contentType: string;
  /** Its etag (hex SHA-256), for `ifMatch`. */
  etag: string | undefined;
  /** Its version. */
  version: number | undefined;
}

/** A per-request option bag with only an abort signal. */
export interface RequestOptions {
  /** Aborts the request. */
  signal?: AbortSignal;
}

function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) {
    throw new SELFError('INVALID_REQUEST', 'a storage key is a non-empty string');
  }
  // URL parsing turns `.` and `..` (and their %2E forms) into path navigation, so no URL can name them.
  if (key === '.' || key === '..') {
    throw new SELFError('INVALID_REQUEST', `the key "${key}" cannot be addressed over HTTP; choose another`);
  }
}

function isJsonType(contentType: string): boolean {
  const t = contentType.split(';', 1)[0]?.trim().toLowerCase() ?? '';
  return t === 'application/json' || t.endsWith('+json');
}

function unquote(etag: string | null): string | undefined {
  if (etag === null) return undefined;
  return etag.replace(/^W\//, '').replace(/^"|"$/g, '');
}

/**
 * One collection: of the app's own namespace (`storage:read` / `storage:write`; no other app can see
 * it) or, from {@link SELFStorage.collection}, one of the person's own collections
 * (`storage:<name>:read` / `storage:<name>:write`).
 */
export class SELFCollection {
  /** @internal */
  constructor(
    /** @internal */
    protected readonly conn: InstanceClient,
    /** The collection's name. */
    readonly name: string,
    /** `own`: the app's namespace; `person`: the person's collections. */
    readonly target: 'own' | 'person',
  ) {
    if (!COLLECTION.test(name)) {
      throw new SELFError('INVALID_REQUEST', `"${name}" is not a collection name (^[a-z][a-z0-9_-]{0,31}$)`);
    }
  }

  private path(key?: string, query: Record<string, string | undefined> = {}): string {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, v);
    if (this.target === 'person') q.set('target', 'person');
    const qs = q.toString();
    const base = `/data/${this.name}${key === undefined ? '' : `/${encodeURIComponent(key)}`}`;
    return qs === '' ? base : `${base}?${qs}`;
  }

  /**
   * Stores a JSON value under `key` (creating or replacing it). Over the person's quota:
   * QUOTA_EXCEEDED, and nothing is written. Without the write scope: PERMISSION_DENIED.
   */
  async save(opts: SaveOptions): Promise<SaveResult> {
    if ((opts.encrypted as boolean | undefined) === false) {
      throw new SELFError(
        'INVALID_REQUEST',
        'encrypted: false is not possible: a SELF instance encrypts every value at rest; leave it out or pass true',
      );
    }
    checkKey(opts.key);
    if (opts.value === undefined) throw new SELFError('INVALID_REQUEST', 'save needs a JSON value');
    const res = await this.conn.request({
      method: 'PUT',
      path: this.path(opts.key),
      headers: {
        'content-type': 'application/json',
        ...(opts.ifMatch !== undefined ? { 'if-match': `"${unquote(opts.ifMatch) ?? ''}"` } : {}),
      },
      body: JSON.stringify(opts.value),
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    });
    const body = await readJson(res);
    const o = isJsonObject(body) ? body : {};
    return {
      key: opts.key,
      version: numberField(o, 'version') ?? 0,
      etag: stringField(o, 'etag') ?? '',
      size: numberField(o, 'size') ?? 0,
    };
  }

  /**
   * The value under `key`, or null when there is none. JSON values come back parsed, `text/*`
   * values as strings; anything else is INVALID_REQUEST (use {@link SELFCollection.getBytes}).
   */
  async get<T extends JsonValue = JsonValue>(key: string, opts: RequestOptions = {}): Promise<T | null> {
    const entry = await this.getBytes(key, opts);
    if (entry === null) return null;
    const text = new TextDecoder().decode(entry.bytes);
    if (isJsonType(entry.contentType)) {
      try {
        return JSON.parse(text) as T;
      } catch (err) {
        throw new SELFError('SERVER_ERROR', `the value of "${key}" is not valid JSON`, { cause: err });
      }
    }
    if (entry.contentType.toLowerCase().startsWith('text/')) return text as T;
    throw new SELFError(
      'INVALID_REQUEST',
      `the value of "${key}" is ${entry.contentType}, not JSON or text: read it with getBytes()`,
    );
  }

  /** The raw bytes under `key` with their content type and etag, or null when there is none. */
  async getBytes(key: string, opts: RequestOptions = {}): Promise<StoredBytes | null> {
    checkKey(key);
    const res = await this.conn.request(
      {
        method: 'GET',
        path: this.path(key),
        ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
      },
      { allow404: true },
    );
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    const version = Number(res.headers.get('x-self-version') ?? NaN);
    return {
      key,
      bytes: new Uint8Array(await res.arrayBuffer()),
      contentType: res.headers.get('content-type') ?? 'application/octet-stream',
      etag: unquote(res.headers.get('etag')),
      version: Number.isInteger(version) ? version : undefined,
    };
  }

  /** A page of the collection's keys (with sizes and etags), in byte order. */
  async list(opts: ListOptions = {}): Promise<ListResult> {
    const res = await this.conn.request({
      method: 'GET',
      path: this.path(undefined, {
        prefix: opts.prefix,
        limit: opts.limit === undefined ? undefined : String(opts.limit),
        cursor: opts.cursor,
      }),
      headers: { accept: 'application/json' },
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    });
    const body = await readJson(res);
    if (!isJsonObject(body) || !Array.isArray(body['items'])) {
      throw new SELFError('SERVER_ERROR', 'the listing has no items');
    }
    const items: StoredItem[] = body['items'].filter(isJsonObject).map((i) => ({
      key: stringField(i, 'key') ?? '',
      size: numberField(i, 'size') ?? 0,
      etag: stringField(i, 'etag') ?? '',
      version: numberField(i, 'version') ?? 0,
      // The instance answers snake_case; its docs once said camelCase: read both.
      updatedAt: numberField(i, 'updated_at') ?? numberField(i, 'updatedAt') ?? 0,
      contentType: stringField(i, 'content_type') ?? stringField(i, 'contentType') ?? '',
    }));
    const cursor = body['cursor'];
    return { items, cursor: typeof cursor === 'string' && cursor !== '' ? cursor : null };
  }

  /** Deletes `key`; true when it existed, false when there was nothing to delete. */
  async delete(key: string, opts: RequestOptions = {}): Promise<boolean> {
    checkKey(key);
    const res = await this.conn.request(
      {
        method: 'DELETE',
        path: this.path(key),
        ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
      },
      { allow404: true },
    );
    await res.body?.cancel();
    return res.status !== 404;
  }
}

/**
 * The app's storage in the person's instance: the methods of {@link SELFCollection} act on the
 * app's own collection {@link DEFAULT_COLLECTION}; {@link SELFStorage.appCollection} names another
 * of the app's collections and {@link SELFStorage.collection} one of the person's.
 */
export class SELFStorage extends SELFCollection {
  /** @internal */
  constructor(conn: InstanceClient) {
    super(conn, DEFAULT_COLLECTION, 'own');
  }

  /**
   * One of the person's own collections (`notes`, `contacts`, …), reachable only with the scope
   * `storage:<name>:read` and/or `storage:<name>:write` in the grant.
   */
  collection(name: string): SELFCollection {
    return new SELFCollection(this.conn, name, 'person');
  }

  /** Another collection of the app's own namespace (same scopes as the default one). */
  appCollection(name: string): SELFCollection {
    return new SELFCollection(this.conn, name, 'own');
  }
}
