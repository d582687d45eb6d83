import { fromHex } from '@self/crypto';
import type { ApiNode } from '../../node-api.js';
import type { ApiApp } from '../app-types.js';
import { notFound } from '../errors.js';
import { BlockJson, ERROR_RESPONSES, HashParams, HeightParams, NoQuery, StatusJson } from '../schemas.js';
import { blockAtHeight, blockByHash, statusJson } from '../views.js';

/** Committed blocks never change (BFT finality): caches may keep them. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

export function registerChainRoutes(app: ApiApp, node: ApiNode): void {
  const chain = node.chain;

  app.get(
    '/v1/status',
    {
      schema: {
        tags: ['chain'],
        summary: 'Chain tip, node identity, consensus progress and mempool size',
        querystring: NoQuery,
        response: { 200: StatusJson, ...ERROR_RESPONSES },
      },
    },
    async () => statusJson(node),
  );

  app.get(
    '/v1/blocks/latest',
    {
      schema: {
        tags: ['chain'],
        summary: 'The latest committed block (404 before block 1)',
        querystring: NoQuery,
        response: { 200: BlockJson, ...ERROR_RESPONSES },
      },
    },
    async () => {
      const height = chain.latestHeight();
      const block = height > 0 ? blockAtHeight(chain, height) : null;
      if (!block) throw notFound('no block has been committed yet', { height });
      return block;
    },
  );

  app.get(
    '/v1/blocks/:height',
    {
      schema: {
        tags: ['chain'],
        summary: 'A committed block by height, with its transactions and commit certificate',
        params: HeightParams,
        querystring: NoQuery,
        response: { 200: BlockJson, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const height = Number(request.params.height);
      const latest = chain.latestHeight();
      const block = height >= 1 && height <= latest ? blockAtHeight(chain, height) : null;
      if (!block) throw notFound(`no block at height ${request.params.height}`, { latest_height: latest });
      reply.header('cache-control', IMMUTABLE);
      return block;
    },
  );

  app.get(
    '/v1/blocks/hash/:hash',
    {
      schema: {
        tags: ['chain'],
        summary: 'A committed block by its hash (the header hash)',
        params: HashParams,
        querystring: NoQuery,
        response: { 200: BlockJson, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const block = blockByHash(chain, fromHex(request.params.hash.toLowerCase()));
      if (!block) throw notFound('no committed block has this hash');
      reply.header('cache-control', IMMUTABLE);
      return block;
    },
  );
}
