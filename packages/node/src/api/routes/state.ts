import { isAddress, isDid } from '@self/crypto';
import {
  StateKey,
  didResolutionResult,
  findAccount,
  getApp,
  getDid,
  newAccount,
  type Chain,
} from '@self/chain';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiNode } from '../../node-api.js';
import type { ApiApp } from '../app-types.js';
import { invalidRequest, notFound } from '../errors.js';
import type { ErrorResponder } from '../error-handler.js';
import {
  AccountJson,
  AddressParams,
  AppJson,
  AppParams,
  DidNotFoundJson,
  DidParams,
  DidResolutionJson,
  ERROR_RESPONSES,
  NoQuery,
  ValidatorsJson,
  type RecordProofJson,
} from '../schemas.js';
import { accountJson, appJson, recordProofJson } from '../serialize.js';
import { blockTimestamp, proofAnchor, validatorsJson } from '../views.js';

/** A record's value and Merkle proof against the latest state root. */
function proveKey(chain: Chain, key: string): RecordProofJson {
  const tree = chain.stateTree();
  return recordProofJson(key, tree.get(key), tree.prove(key), proofAnchor(chain, tree));
}

/**
 * W3C DID Resolution error results (invalidDid, notFound) merged into the API's error body, so
 * both DID resolvers and generic API clients can read them. Other errors (429, 5xx) stay plain.
 */
function didErrorBody(body: Record<string, unknown>, status: number): Record<string, unknown> {
  if (status !== 400 && status !== 404) return body;
  return {
    ...body,
    didDocument: null,
    didResolutionMetadata: { error: status === 404 ? 'notFound' : 'invalidDid' },
    didDocumentMetadata: {},
  };
}

export function registerStateRoutes(app: ApiApp, node: ApiNode, respond: ErrorResponder): void {
  const chain = node.chain;

  app.get(
    '/v1/accounts/:address',
    {
      schema: {
        tags: ['state'],
        summary: 'An account with a Merkle proof against the latest state root',
        description:
          'An address never seen on chain answers 200 with `exists: false`, zero balance and nonce, ' +
          'and a proof of absence (value null), so wallets and light clients need no special case.',
        params: AddressParams,
        querystring: NoQuery,
        response: { 200: AccountJson, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const { address } = request.params;
      if (!isAddress(address)) throw invalidRequest('address checksum does not match', { field: 'address' });
      const record = findAccount(chain.stateTree(), address);
      const proof = proveKey(chain, StateKey.account(address));
      return accountJson(record ?? newAccount(address), record !== undefined, proof);
    },
  );

  app.get(
    '/v1/dids/:did',
    {
      errorHandler: (err: unknown, request: FastifyRequest, reply: FastifyReply) =>
        respond(err, request, reply, didErrorBody),
      schema: {
        tags: ['state'],
        summary: 'Resolve a did:self DID (W3C DID Resolution) with Merkle proofs',
        description:
          '200: the resolution result. 410: the DID is deactivated (the result, with ' +
          'didDocumentMetadata.deactivated true, as the DID Resolution HTTP binding specifies). ' +
          '404: notFound, with a proof of absence. 400: invalidDid.',
        params: DidParams,
        querystring: NoQuery,
        response: {
          200: DidResolutionJson,
          410: DidResolutionJson,
          400: DidNotFoundJson,
          404: DidNotFoundJson,
          ...ERROR_RESPONSES,
        },
      },
    },
    async (request, reply) => {
      const { did } = request.params;
      if (!isDid(did)) throw invalidRequest('the DID does not hold a valid address', { field: 'did' });
      const tree = chain.stateTree();
      const record = getDid(tree, did);
      const proof = proveKey(chain, StateKey.did(did));
      if (!record) {
        reply.code(404);
        const body: DidNotFoundJson = {
          ...notFound(`${did} is not on chain`, { did }).body(),
          didDocument: null,
          didResolutionMetadata: { error: 'notFound' },
          didDocumentMetadata: {},
          proof,
        };
        return body;
      }
      const account = findAccount(tree, record.controller);
      const createdAt = blockTimestamp(chain, record.created_height);
      const updatedAt = blockTimestamp(chain, record.updated_height);
      if (!account?.public_key || createdAt === null || updatedAt === null) {
        // A DID record implies its controller signed did.create in a committed block.
        throw new Error(`state of ${did} is inconsistent`);
      }
      const result = didResolutionResult(record, {
        accountPublicKey: account.public_key,
        createdAt,
        updatedAt,
      });
      reply.code(record.deactivated ? 410 : 200);
      return {
        ...result,
        didDocument: result.didDocument as unknown as Record<string, unknown>,
        proof,
        controllerProof: proveKey(chain, StateKey.account(record.controller)),
      };
    },
  );

  app.get(
    '/v1/validators',
    {
      schema: {
        tags: ['state'],
        summary: 'Every validator record, and the committee drawn for the next height',
        querystring: NoQuery,
        response: { 200: ValidatorsJson, ...ERROR_RESPONSES },
      },
    },
    async () => validatorsJson(chain),
  );

  app.get(
    '/v1/apps/:id',
    {
      schema: {
        tags: ['state'],
        summary: 'A registered app with a Merkle proof against the latest state root',
        params: AppParams,
        querystring: NoQuery,
        response: { 200: AppJson, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const record = getApp(chain.stateTree(), request.params.id);
      if (!record) throw notFound(`no app ${request.params.id}`);
      return appJson(record, proveKey(chain, StateKey.app(request.params.id)));
    },
  );
}
