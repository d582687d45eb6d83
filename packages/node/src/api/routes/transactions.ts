import { fromHex } from '@self/crypto';
import { EncodingError, decode, decodeBlock, type ChainParams } from '@self/chain';
import type { ApiNode } from '../../node-api.js';
import type { ApiApp } from '../app-types.js';
import { errorResponder } from '../error-handler.js';
import { ApiError, fromChainError, invalidRequest, notFound } from '../errors.js';
import {
  BatchSubmitJson,
  BatchSubmittedJson,
  ERROR_RESPONSES,
  HashParams,
  MAX_BATCH_TXS,
  NoQuery,
  RawBatchBody,
  RawBytesBody,
  SubmitTxJson,
  SubmittedJson,
  TxStatusJson,
  type BatchRejectedJson,
} from '../schemas.js';
import { hex, txJson } from '../serialize.js';

export { MAX_BATCH_TXS } from '../schemas.js';

export interface TransactionRouteOptions {
  /** Route-level rate limit of submissions (false: none), in @fastify/rate-limit's terms. */
  rateLimit: { max: number; timeWindow: number } | false;
}

/** Media types POST /v1/transactions takes raw (the encoded transaction as the body). */
export const RAW_TX_MEDIA = ['application/cbor', 'application/octet-stream'] as const;

/** The encoded transaction from either a JSON `{tx: hex}` body or a raw one. */
function submittedBytes(body: unknown): Uint8Array {
  if (Buffer.isBuffer(body)) {
    if (body.length === 0) throw invalidRequest('empty body: send the encoded transaction');
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  }
  // The JSON schema has already checked the shape and the hex.
  const tx = (body as { tx?: unknown } | null)?.tx;
  if (typeof tx !== 'string') throw invalidRequest('body must be {"tx": "<hex>"}');
  return fromHex(tx.toLowerCase());
}

/** Media types POST /v1/transactions/batch takes: JSON `{txs: [hex…]}` or a CBOR array of byte strings. */
export const BATCH_MEDIA = ['application/json', 'application/cbor'] as const;

/** Transaction bytes one batch may carry; larger submissions are split by the client. */
export const MAX_BATCH_TX_BYTES = 8 * 1024 * 1024;

/**
 * Body limit of POST /v1/transactions/batch: MAX_BATCH_TXS transactions of the largest size, one
 * block's worth, or MAX_BATCH_TX_BYTES, whichever is least. The cap keeps the cost of parsing one
 * request bounded (a 64 MiB JSON body would stall the event loop); 8 MiB still holds 1,000 hybrid
 * transfers (~5.5 KB with a first-use key). The factor 2 and the 1 KiB are the hex encoding and the
 * JSON around it, as for the single route: 16 MiB + 1 KiB with the default parameters.
 */
export function batchBodyLimit(params: Pick<ChainParams, 'max_tx_bytes' | 'max_block_bytes'>): number {
  return Math.min(MAX_BATCH_TXS * params.max_tx_bytes, params.max_block_bytes, MAX_BATCH_TX_BYTES) * 2 + 1024;
}

/** The encoded transactions of a batch, from a JSON `{txs: [hex…]}` body or a CBOR array. */
function batchItems(body: unknown): Uint8Array[] {
  let items: Uint8Array[];
  if (Buffer.isBuffer(body)) {
    items = cborBatch(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
  } else {
    // The JSON schema has already checked the shape, the count and the hex.
    const txs = (body as { txs?: unknown } | null)?.txs;
    if (!Array.isArray(txs)) throw invalidRequest('body must be {"txs": ["<hex>", …]}');
    items = txs.map((tx) => fromHex(String(tx).toLowerCase()));
  }
  if (items.length === 0)
    throw invalidRequest(`the batch is empty: send 1 to ${MAX_BATCH_TXS} transactions`, {
      count: 0,
      max: MAX_BATCH_TXS,
    });
  if (items.length > MAX_BATCH_TXS)
    throw invalidRequest(`a batch carries at most ${MAX_BATCH_TXS} transactions, got ${items.length}`, {
      count: items.length,
      max: MAX_BATCH_TXS,
    });
  return items;
}

/** A canonical CBOR array of non-empty byte strings; anything else is a 400 naming the problem. */
function cborBatch(bytes: Uint8Array): Uint8Array[] {
  if (bytes.length === 0)
    throw invalidRequest('empty body: send a CBOR array of encoded transactions (byte strings)');
  let value: unknown;
  try {
    value = decode(bytes);
  } catch (err) {
    if (!(err instanceof EncodingError)) throw err;
    throw invalidRequest(`body is not canonical CBOR: ${err.message}`, { reason: err.reason });
  }
  if (!Array.isArray(value))
    throw invalidRequest('CBOR body must be an array of byte strings (the encoded transactions)', {
      got: value === null ? 'null' : value instanceof Uint8Array ? 'bytes' : typeof value,
    });
  value.forEach((item, index) => {
    if (!(item instanceof Uint8Array))
      throw invalidRequest(`CBOR body item ${index} is not a byte string`, {
        index,
        got: item === null ? 'null' : Array.isArray(item) ? 'array' : typeof item,
      });
    if (item.length === 0) throw invalidRequest(`CBOR body item ${index} is an empty byte string`, { index });
  });
  return value as Uint8Array[];
}

export function registerTransactionRoutes(app: ApiApp, node: ApiNode, opts: TransactionRouteOptions): void {
  const chain = node.chain;

  app.post(
    '/v1/transactions',
    {
      config: { rateLimit: opts.rateLimit === false ? false : opts.rateLimit },
      schema: {
        tags: ['transactions'],
        summary: 'Submit a signed transaction to the mempool',
        description:
          'Body: `{"tx": "<hex>"}` (application/json), or the raw encoded SignedTransaction as ' +
          'application/cbor or application/octet-stream. 202 means admitted to the mempool, not committed: ' +
          'watch GET /v1/transactions/{hash} or the `transactions` WebSocket channel. Rejections answer ' +
          '`transaction_rejected` with the ChainError code in details.code (400 invalid, 409 conflict, ' +
          '422 not applicable to the current state); 503 `service_unavailable` when the mempool is full.',
        querystring: NoQuery,
        body: {
          content: {
            'application/json': { schema: SubmitTxJson },
            'application/cbor': { schema: RawBytesBody },
            'application/octet-stream': { schema: RawBytesBody },
          },
        },
        response: { 202: SubmittedJson, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const { hash } = await node.submitTransaction(submittedBytes(request.body));
      reply.code(202);
      return { hash: hex(hash) };
    },
  );

  const bodyLimit = batchBodyLimit(chain.genesis.params);
  // Its own responder, so that a 413 names this route's limit rather than the server's, and a 415
  // the media types this route takes.
  const respond = errorResponder(node, bodyLimit);
  const unsupportedMedia = (): ApiError =>
    new ApiError(415, 'unsupported_media_type', 'unsupported Content-Type for a batch', {
      supported: BATCH_MEDIA,
    });
  app.post(
    '/v1/transactions/batch',
    {
      bodyLimit,
      config: { rateLimit: opts.rateLimit === false ? false : opts.rateLimit },
      errorHandler: (err, request, reply) =>
        respond(
          (err as { statusCode?: unknown }).statusCode === 415 ? unsupportedMedia() : err,
          request,
          reply,
        ),
      schema: {
        tags: ['transactions'],
        summary: `Submit up to ${MAX_BATCH_TXS} signed transactions at once`,
        description:
          `Body: \`{"txs": ["<hex>", …]}\` (application/json), or a canonical CBOR array of 1 to ` +
          `${MAX_BATCH_TXS} byte strings, each an encoded SignedTransaction (application/cbor). The node ` +
          'verifies them together and admits each valid one to the mempool in order. 200 means the ' +
          'batch was judged, not that every transaction was admitted: `results` has one entry per ' +
          'transaction, in order, either `{hash}` (admitted) or `{error, code, message, details}` (refused; ' +
          '`error` and `details` as POST /v1/transactions would answer, `code` the ChainError code, e.g. ' +
          '`mempool_full`). 400 when the body is not a batch (empty, over the limit, not an array of byte ' +
          'strings); 503 when the node is shutting down. Rate limit: a budget of its own, the size of ' +
          "POST /v1/transactions's; a batch counts as one request however many transactions it carries. " +
          `Body limit: min(${MAX_BATCH_TXS} × max_tx_bytes, max_block_bytes) × 2 + 1 KiB.`,
        querystring: NoQuery,
        body: {
          content: {
            'application/json': { schema: BatchSubmitJson },
            'application/cbor': { schema: RawBatchBody },
          },
        },
        response: { 200: BatchSubmittedJson, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const type = request.headers['content-type']?.split(';', 1)[0]?.trim().toLowerCase();
      // application/octet-stream reaches here (the server parses it as raw bytes for the single route).
      if (!BATCH_MEDIA.some((m) => m === type)) throw unsupportedMedia();
      const outcomes = await node.submitTransactions(batchItems(request.body));
      let accepted = 0;
      const results = outcomes.map((o): { hash: string } | BatchRejectedJson => {
        if (o.ok) {
          accepted++;
          return { hash: hex(o.hash) };
        }
        // The same error the single route would answer, counted the same way.
        const refused = fromChainError(o.error);
        node.metrics.countRejected(refused.reason, 'api');
        const { error, message, details } = refused.body();
        return { error: error as BatchRejectedJson['error'], code: o.error.code, message, details };
      });
      return { accepted, rejected: results.length - accepted, results };
    },
  );

  app.get(
    '/v1/transactions/:hash',
    {
      schema: {
        tags: ['transactions'],
        summary: 'A transaction by hash: committed (with its block position) or pending in the mempool',
        params: HashParams,
        querystring: NoQuery,
        response: { 200: TxStatusJson, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const hash = fromHex(request.params.hash.toLowerCase());
      const location = chain.store.txLocation(hash);
      const stored = location ? chain.store.blockByHeight(location.height) : undefined;
      if (location && stored) {
        const block = decodeBlock(stored.block);
        const bytes = block.txs[location.index];
        if (bytes) {
          return {
            status: 'committed' as const,
            hash: hex(hash),
            tx: txJson(bytes),
            height: location.height,
            index: location.index,
            block_hash: hex(stored.hash),
            timestamp: block.header.timestamp,
          };
        }
      }
      const pending = chain.mempool.get(hash);
      if (pending) {
        return {
          status: 'pending' as const,
          hash: hex(hash),
          tx: txJson(pending.bytes, pending.stx, pending.hash),
        };
      }
      throw notFound('unknown transaction: neither committed nor pending here');
    },
  );
}
