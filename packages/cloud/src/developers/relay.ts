import { didFromAddress } from '@self/crypto';
import type { TxKind } from '@self/chain';
import { isNodeApiError } from '@self/node/client';
import { chainStepFailure } from '../chain/errors.js';
import { waitForCommit, type Committed } from '../chain/submit.js';
import { forbidden } from '../http/errors.js';
import type { SignupChain } from '../signup/signup.js';
import {
  checkIdentityTransaction,
  decodeTransactionField,
  type CheckedIdentityTx,
} from '../signup/validate.js';

/**
 * A transaction the person signed on their device, checked as the identity relay checks one
 * (routes/identity.ts: decode, chain id, kind, shape, body rules, signature) and then refused with
 * 403 unless `did`'s own account signed it: the cloud relays only what the caller could sign.
 */
export function checkOwnTransaction<K extends TxKind>(
  chain: SignupChain,
  transaction: string,
  kinds: readonly K[],
  did: string,
): CheckedIdentityTx<K> {
  const checked = checkIdentityTransaction(decodeTransactionField(transaction), chain.chainId, kinds);
  const signerDid = didFromAddress(checked.sender);
  if (signerDid !== did)
    throw forbidden('the transaction is signed by another account than the developer’s', {
      developer_did: did,
      signer_did: signerDid,
    });
  return checked;
}

/**
 * Submits a checked transaction and waits for its commit. A retry after a lost answer settles:
 * the same transaction still pending is waited for, one already committed (the node then refuses
 * it, e.g. `bad_nonce`) counts as done. Any other refusal is the chain's reason as 400
 * `invalid_transaction`; a chain that is down or slow is 503.
 */
export async function relayAndWait(chain: SignupChain, checked: CheckedIdentityTx): Promise<Committed> {
  const step = `relaying ${checked.stx.tx.kind}`;
  try {
    await chain.client.submitTransaction(checked.bytes);
  } catch (err) {
    const code = isNodeApiError(err) ? err.chainCode : undefined;
    if (code !== 'duplicate') {
      if (code !== undefined) {
        const earlier = await chain.client.transaction(checked.hash).catch(() => null);
        if (earlier?.status === 'committed') return { hash: checked.hash, height: earlier.height };
      }
      throw chainStepFailure(err, step);
    }
  }
  try {
    return await waitForCommit(chain.client, checked.hash, { timeoutMs: chain.commitTimeoutMs });
  } catch (err) {
    throw chainStepFailure(err, step);
  }
}
