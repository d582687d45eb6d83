import type { Pool } from 'undici';
import { HOP_BY_HOP_HEADERS } from '../http/hop-by-hop.js';
import type { InstanceRequest, InstanceResponse } from './types.js';

/** Methods that may be sent again when the first try died with the process. */
export const RETRYABLE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Responses of these types are streamed through, not read whole (an AI reply can take a minute). */
const STREAMED_TYPES = ['text/event-stream'];

/**
 * One request over the instance's socket. The whole response body is read, except for streamed
 * types, whose body is handed back as a stream.
 */
export async function sendToInstance(pool: Pool, req: InstanceRequest): Promise<InstanceResponse> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    const lower = name.toLowerCase();
    if (!HOP_BY_HOP_HEADERS.has(lower)) headers[lower] = value;
  }
  const res = await pool.request({
    method: req.method as 'GET',
    path: req.path,
    headers,
    ...(req.body === undefined ? {} : { body: req.body }),
  });
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined || HOP_BY_HOP_HEADERS.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const type = (out['content-type'] ?? '').toLowerCase();
  if (STREAMED_TYPES.some((t) => type.startsWith(t))) {
    return { status: res.statusCode, headers: out, body: new Uint8Array(0), stream: res.body };
  }
  const body = new Uint8Array(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: out, body };
}

/** The request never reached a listening process (no socket, or nobody accepting on it). */
export function neverDelivered(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ECONNREFUSED' || code === 'ENOENT';
}
