/**
 * Why the instance store refused an operation. Callers (the HTTP layer, the SDK) branch on `code`,
 * never on `message`: messages are for people, say what to do next, and may change. No message or
 * `details` ever carries key material or stored values; object keys and names appear only where
 * they are the input that was refused.
 */
export type InstanceErrorCode =
  /** The data key does not open this database (wrong key, or not an instance database). */
  | 'bad_key'
  /** A namespace or collection name that fails validation (names.ts). */
  | 'invalid_name'
  /** An object key (or list prefix) that fails validation (names.ts). */
  | 'invalid_key'
  /** Another argument is malformed: a value that is not bytes, a content type, a limit, a cursor. */
  | 'invalid_argument'
  /** The value is larger than the store's `maxValueBytes`. */
  | 'too_large'
  /** The write would take the instance over its quota; nothing was written. */
  | 'quota_exceeded'
  | 'not_found'
  /** `ifMatch` did not equal the object's current etag (or the object does not exist). */
  | 'conflict'
  /** Stored bytes failed authentication or are missing: a database page or a blob file was altered. */
  | 'corrupt'
  /** The database was written by a newer schema than this build reads. */
  | 'unsupported_version'
  /** The store was closed. */
  | 'closed';

export class InstanceError extends Error {
  override readonly name = 'InstanceError';
  readonly code: InstanceErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: InstanceErrorCode, message: string, details?: Record<string, unknown>, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}

export function isInstanceError(error: unknown, code?: InstanceErrorCode): error is InstanceError {
  return error instanceof InstanceError && (code === undefined || error.code === code);
}
