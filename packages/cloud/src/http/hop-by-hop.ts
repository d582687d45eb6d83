/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) and those the sending client computes itself (host,
 * content-length): never copied when the gateway forwards a request or a response.
 */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'host',
  'content-length',
]);
