/** A JSON value: what `storage.save` stores and `storage.get` gives back. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A JSON object. */
export type JsonObject = { [key: string]: JsonValue };

/** True for a plain JSON object (not an array, not null). */
export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A string field of an object, or undefined. */
export function stringField(o: JsonObject, name: string): string | undefined {
  const v = o[name];
  return typeof v === 'string' ? v : undefined;
}

/** A finite number field of an object, or undefined. */
export function numberField(o: JsonObject, name: string): number | undefined {
  const v = o[name];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
