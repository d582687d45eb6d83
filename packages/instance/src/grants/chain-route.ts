import { addressFromDid } from '@self/crypto';
import type { NodeClient } from '@self/node/client';
import type { FastifyRequest } from 'fastify';
import type { AiRoutesApp } from '../ai/http.js';
import type { Actor, Instance } from '../instance.js';
import { InstanceApiError } from '../server/errors.js';
import { NoQuery } from '../server/schemas.js';

/** What the route reads from a chain node: public records only. */
export type ChainReader = Pick<NodeClient, 'account' | 'did'>;

export interface ChainRouteDeps {
  instance: Instance;
  actorOf: (request: FastifyRequest) => Actor;
  /** The instance's chain node; null when the instance runs without one (the route says so). */
  chain: ChainReader | null;
}

/**
 * `GET /v1/chain` (`chain:read`, docs/scopes.md): the person's public SELF Chain account and DID
 * document, as the chain has them. Anyone could read these from a node by address; what the scope
 * guards is the link between this app and this person's on-chain identity, so the read is audited
 * (`chain.read`) like any other.
 */
export function registerChainRoute(app: AiRoutesApp, deps: ChainRouteDeps): void {
  const { instance } = deps;
  app.get('/v1/chain', { schema: { querystring: NoQuery } }, async (request) => {
    const ticket = instance.action(deps.actorOf(request), {
      action: 'chain.read',
      scope: 'chain:read',
      object: 'chain/account',
      apps: 'scoped',
    });
    const chain = deps.chain;
    if (chain === null) {
      const err = new InstanceApiError(
        503,
        'unavailable',
        'this instance has no chain node configured; ask the operator to start it with one',
      );
      ticket.fail(err);
      throw err;
    }
    let account: Awaited<ReturnType<ChainReader['account']>>;
    let didDocument: Record<string, unknown>;
    try {
      [account, didDocument] = await Promise.all([
        chain.account(addressFromDid(instance.did)),
        chain.did(instance.did),
      ]);
    } catch (cause) {
      const err = new InstanceApiError(
        503,
        'unavailable',
        'the chain node did not answer; try again shortly',
        {
          cause: cause instanceof Error ? cause.message : String(cause),
        },
      );
      ticket.fail(err);
      throw err;
    }
    return ticket.ok(() => ({
      did: instance.did,
      address: account.address,
      balance: account.balance,
      nonce: account.nonce,
      did_document: didDocument,
    }));
  });
}
