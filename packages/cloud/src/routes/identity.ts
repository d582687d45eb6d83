import { didFromAddress } from '@self/crypto';
import { chainStepFailure } from '../chain/errors.js';
import { submitAndWait } from '../chain/submit.js';
import { forbidden, notFound } from '../http/errors.js';
import { IdentityTxBody } from '../http/schemas.js';
import { checkIdentityTransaction, decodeTransactionField } from '../signup/validate.js';
import type { CloudApp, CloudContext } from './context.js';

/**
 * POST /v1/identity/transactions {transaction} → {tx_hash, height, kind}: relays a did.update or
 * did.deactivate of the session's own DID to the chain and waits for it to commit. The person signs
 * it on their device; the gateway only checks it is theirs and of one of these kinds (400
 * `invalid_transaction` with reason `wrong_kind`, 403 `forbidden` for another account's), since a
 * session must never become a way to put anything else on chain in someone's name. After a
 * did.deactivate the account is closed: its sessions end and its instance stops.
 */
export function registerIdentityRoutes(app: CloudApp, ctx: CloudContext): void {
  app.post(
    '/v1/identity/transactions',
    { onRequest: [...ctx.hooks.person], schema: { body: IdentityTxBody } },
    async (request) => {
      const principal = request.selfPrincipal;
      if (!principal) throw notFound('no session'); // unreachable: requirePerson ran
      const { transaction } = request.body as IdentityTxBody;
      const checked = checkIdentityTransaction(decodeTransactionField(transaction), ctx.chain.chainId, [
        'did.update',
        'did.deactivate',
      ] as const);
      const signerDid = didFromAddress(checked.sender);
      if (signerDid !== principal.did)
        throw forbidden('the transaction is signed by another account than this session’s', {
          session_did: principal.did,
          signer_did: signerDid,
        });
      let committed;
      try {
        committed = await submitAndWait(ctx.chain.client, checked.bytes, {
          timeoutMs: ctx.chain.commitTimeoutMs,
        });
      } catch (err) {
        throw chainStepFailure(err, `relaying ${checked.stx.tx.kind}`);
      }
      if (checked.stx.tx.kind === 'did.deactivate') {
        ctx.accounts.markDeactivated(principal.did, ctx.now());
        ctx.sessions.revokeAll(principal.did);
        await ctx.provisioner.stop(principal.did).catch((err: unknown) => {
          request.log.warn({ err, did: principal.did }, 'could not stop the instance of a deactivated DID');
        });
      }
      return { tx_hash: committed.hash, height: committed.height, kind: checked.stx.tx.kind };
    },
  );
}
