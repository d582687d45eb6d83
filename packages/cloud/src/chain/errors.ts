import { isNodeApiError } from '@self/node/client';
import { CloudError, unavailable } from '../http/errors.js';
import { ChainStepError } from './submit.js';
import { SponsorError } from './sponsor.js';

/** Errors of talking to the chain (as opposed to bugs or provisioner failures). */
export function isChainFailure(err: unknown): boolean {
  return err instanceof SponsorError || err instanceof ChainStepError || isNodeApiError(err);
}

/**
 * A failed chain step as an HTTP error. The node refusing the person's own transaction is their
 * mistake (400 `invalid_transaction`, the chain code in `details.reason`); the chain being down,
 * slow or refusing the sponsor's transfers is not (503, retry later).
 */
export function chainStepFailure(err: unknown, step: string): CloudError {
  if (err instanceof CloudError) return err;
  if (err instanceof SponsorError)
    return unavailable(`the testnet sponsor could not fund the account (${err.code}); try again shortly`, {
      step,
      reason: err.code,
    });
  if (err instanceof ChainStepError)
    return unavailable(`${step}: ${err.message}`, { step, reason: err.reason, tx_hash: err.hash });
  if (isNodeApiError(err)) {
    if (err.status >= 400 && err.status < 500 && err.status !== 429 && err.code === 'transaction_rejected') {
      const reason = err.chainCode ?? 'rejected';
      return new CloudError(400, 'invalid_transaction', `the chain refused the transaction: ${err.message}`, {
        step,
        reason,
      });
    }
    return unavailable('the chain cannot be reached right now; try again shortly', {
      step,
      reason: err.code,
    });
  }
  return unavailable(`${step} failed; try again shortly`, { step });
}
