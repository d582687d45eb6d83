import { TextDecoder } from 'node:util';

/**
 * The text of an object that the retrieval index holds: text/* values as text, JSON values as their
 * string values (keys and numbers are structure, not content). At most INDEX_TEXT_MAX_BYTES of text
 * per object: a 32 MiB log file is found by its beginning, and one object cannot fill the index.
 */

export const INDEX_TEXT_MAX_BYTES = 1024 * 1024;

function mediaType(contentType: string): { type: string; charset: string | null } {
  const [type = '', ...params] = contentType.split(';');
  let charset: string | null = null;
  for (const p of params) {
    const m = /^\s*charset\s*=\s*"?([^";\s]+)"?\s*$/i.exec(p);
    if (m) charset = m[1]!.toLowerCase();
  }
  return { type: type.trim().toLowerCase(), charset };
}

function isJsonType(type: string): boolean {
  return type === 'application/json' || type.endsWith('+json');
}

/** Whether objects of this content type are indexed. */
export function isIndexableType(contentType: string): boolean {
  const { type } = mediaType(contentType);
  return type.startsWith('text/') || isJsonType(type);
}

function decoder(charset: string | null): TextDecoder {
  try {
    return new TextDecoder(charset ?? 'utf-8');
  } catch {
    return new TextDecoder('utf-8'); // an unknown label: most text is UTF-8 anyway
  }
}

/** The first `max` bytes, not cutting a UTF-8 sequence in two. */
function headOf(value: Uint8Array, max: number): Uint8Array {
  if (value.length <= max) return value;
  let end = max;
  // Back off over continuation bytes (10xxxxxx) to the start of the cut sequence.
  while (end > 0 && end > max - 4 && (value[end]! & 0xc0) === 0x80) end--;
  return value.subarray(0, end);
}

/** The string values of a JSON document, in document order, up to `max` bytes. */
function jsonStrings(doc: unknown, max: number): string {
  const out: string[] = [];
  let bytes = 0;
  // An explicit stack: a deeply nested document must not overflow the call stack.
  const stack: unknown[] = [doc];
  while (stack.length > 0 && bytes < max) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (v.trim().length === 0) continue;
      out.push(v);
      bytes += Buffer.byteLength(v) + 1;
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push(v[i]);
    } else if (typeof v === 'object' && v !== null) {
      const values = Object.values(v);
      for (let i = values.length - 1; i >= 0; i--) stack.push(values[i]);
    }
  }
  const text = out.join('\n');
  return Buffer.byteLength(text) <= max ? text : new TextDecoder().decode(headOf(Buffer.from(text), max));
}

/** The text to index for a value of `contentType`, or null when it is not indexed. */
export function indexableText(value: Uint8Array, contentType: string): string | null {
  const { type, charset } = mediaType(contentType);
  if (isJsonType(type)) {
    let doc: unknown;
    try {
      doc = JSON.parse(decoder(charset).decode(value));
    } catch {
      // Not JSON after all: its text is still the person's words.
      return decoder(charset).decode(headOf(value, INDEX_TEXT_MAX_BYTES));
    }
    return jsonStrings(doc, INDEX_TEXT_MAX_BYTES);
  }
  if (type.startsWith('text/')) return decoder(charset).decode(headOf(value, INDEX_TEXT_MAX_BYTES));
  return null;
}
