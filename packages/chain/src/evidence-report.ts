import { addressFromPublicKey, type SigningKey } from '@self/crypto';
import { getAccount, getValidator } from './accounts.js';
import type { Chain } from './chain.js';
import { encodeSignedTransaction, signTransaction } from './codec.js';
import type { Address } from './types.js';

/**
 * The `evidence` transaction an honest node signs when it sees two conflicting votes by `voter`,
 * or null when there is nothing to report (unknown or already slashed validator). The nonce
 * follows the reporter's transactions already waiting in the mempool.
 */
export function evidenceTransaction(
  chain: Chain,
  reporter: SigningKey,
  voter: Address,
  voteA: Uint8Array,
  voteB: Uint8Array,
): Uint8Array | null {
  const validator = getValidator(chain.store, voter);
  if (!validator || validator.slashed) return null;
  const address = addressFromPublicKey(reporter.publicKey);
  const account = getAccount(chain.store, address);
  const pending = chain.mempool.entries().filter((e) => e.sender === address).length;
  const stx = signTransaction(
    {
      v: 1,
      chain_id: chain.chainId,
      kind: 'evidence',
      nonce: account.nonce + 1 + pending,
      point_price: chain.genesis.params.min_point_price,
      body: { vote_a: voteA, vote_b: voteB },
    },
    reporter,
  );
  return encodeSignedTransaction(stx);
}
