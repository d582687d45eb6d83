import { fromHex } from '@self/crypto';
import { decodeBlock } from '@self/chain';
import type { ApiNode } from '../../node-api.js';
import type { ApiApp } from '../app-types.js';
import { invalidRequest, notFound } from '../errors.js';
import {
  ERROR_RESPONSES,
  HashParams,
  NoQuery,
  RawBytesBody,
  SubmitTxJson,
  SubmittedJson,
  TxStatusJson,
} from '../schemas.js';
import { hex, txJson } from '../serialize.js';

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
