import { SELFError, errorFromResponse } from './errors.js';
import type { JsonValue } from './json.js';

/**
 * The fetch the SDK calls: the platform's by default, or one you inject (a test double, a proxy, a
 * fetch with your own timeouts). Only `(url, init)` calls with a string URL are made.
 */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** The platform's fetch, looked up when called (so that a polyfill installed later is used). */
export const platformFetch: FetchLike = (url, init) => globalThis.fetch(url, init);

/**
 * One HTTP exchange. A failure to get any answer is NETWORK_ERROR; an abort rethrows the signal's
 * reason unchanged (so `AbortError` stays what callers expect).
 */
export async function send(fetchFn: FetchLike, url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetchFn(url, init);
  } catch (err) {
    if (init.signal?.aborted === true) throw init.signal.reason;
    const why = err instanceof Error ? err.message : String(err);
    throw new SELFError('NETWORK_ERROR', `could not reach ${new URL(url).origin}: ${why}`, { cause: err });
  }
}

/** The response itself when it is 2xx, else its SELFError. */
export async function ok(res: Response): Promise<Response> {
  if (res.ok) return res;
  throw await errorFromResponse(res);
}

/** A 2xx response's JSON body; a body that is not JSON is SERVER_ERROR. */
export async function readJson(res: Response): Promise<JsonValue> {
  const text = await res.text();
  try {
    return JSON.parse(text) as JsonValue;
  } catch (err) {
    throw new SELFError('SERVER_ERROR', `expected JSON from ${res.url || 'the server'}`, {
      status: res.status,
      cause: err,
    });
  }
}

/** An `application/x-www-form-urlencoded` body (what OAuth endpoints take). */
export function formBody(fields: Record<string, string | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) p.set(k, v);
  return p.toString();
}
