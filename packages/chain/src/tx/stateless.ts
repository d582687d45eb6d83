import { addressFromPublicKey, schemeOfPublicKey } from '@self/crypto';
import {
  assertTransactionSignature,
  decodeSignedTransaction,
  encodeSignedTransaction,
  txHash,
} from '../codec.js';
import { ChainError } from '../errors.js';
import type { ChainParams, Genesis } from '../params.js';
import { parseSignedTransaction } from '../schema/index.js';
import type { Address, SignedTransaction, Transaction } from '../types.js';
import { checkBody } from './body-rules.js';
import { checkEvidence } from './evidence.js';
import { txFee } from './fees.js';

export interface StatelessContext {
  chainId: string;
  params: Pick<ChainParams, 'max_tx_bytes' | 'min_point_price'>;
  /** genesis.signature_schemes: the schemes transaction signers may use. */
  schemes: Genesis['signature_schemes'];
}

/** A transaction that passed every check that needs no state, with what later stages reuse. */
export interface CheckedTransaction {
  stx: SignedTransaction;
  /** Canonical encoding (what blocks carry and max_tx_bytes limits). */
  bytes: Uint8Array;
  hash: Uint8Array;
  sender: Address;
  fee: number;
}

/**
 * Everything about a transaction that needs no state, cheapest first so junk costs little:
 * size, shape, chain id, nonce ≥ 1, point price, body rules, signer scheme, then the signature.
 */
export function checkStateless(
  stx: SignedTransaction,
  ctx: StatelessContext,
  /** The canonical bytes `stx` was strictly decoded from, and its hash: skips re-encoding and re-parsing. */
  decoded?: { bytes: Uint8Array; hash: Uint8Array },
): CheckedTransaction {
  const bytes = decoded?.bytes ?? encodeSignedTransaction(stx);
  if (bytes.length > ctx.params.max_tx_bytes) {
    throw new ChainError(
      'oversized',
      `transaction is ${bytes.length} bytes, limit ${ctx.params.max_tx_bytes}`,
      {
        bytes: bytes.length,
        limit: ctx.params.max_tx_bytes,
      },
    );
  }
  // In-process callers build objects by hand; the shape check gives them the decoder's guarantees.
  if (!decoded) parseSignedTransaction(stx);
  const tx: Transaction = stx.tx;
  if (tx.chain_id !== ctx.chainId) {
    throw new ChainError('wrong_chain', `transaction is for chain ${tx.chain_id}, this is ${ctx.chainId}`);
  }
  if (tx.nonce < 1) throw new ChainError('bad_nonce', 'nonces start at 1', { nonce: tx.nonce });
  if (tx.point_price < ctx.params.min_point_price) {
    throw new ChainError(
      'point_price_too_low',
      `point price ${tx.point_price} is below ${ctx.params.min_point_price}`,
      {
        min_point_price: ctx.params.min_point_price,
      },
    );
  }
  const fee = txFee(tx);
  if (!Number.isSafeInteger(fee)) throw new ChainError('invalid_body', 'point price × points exceeds 2^53');
  checkBody(tx);
  let scheme: string;
  try {
    scheme = schemeOfPublicKey(stx.signer);
  } catch {
    throw new ChainError('scheme_not_allowed', 'unknown signature scheme');
  }
  if (!(ctx.schemes as readonly string[]).includes(scheme)) {
    throw new ChainError('scheme_not_allowed', `signature scheme ${scheme} is not allowed on this chain`, {
      scheme,
    });
  }
  const hash = decoded?.hash ?? txHash(stx);
  assertTransactionSignature(stx, hash);
  if (tx.kind === 'evidence') checkEvidence((tx as Transaction<'evidence'>).body, ctx.chainId);
  return { stx, bytes, hash, sender: addressFromPublicKey(stx.signer), fee };
}

/** Decodes a transaction received from outside (API, gossip) and runs checkStateless on it. */
export function checkStatelessBytes(bytes: Uint8Array, ctx: StatelessContext): CheckedTransaction {
  return checkStateless(decodeSignedTransaction(bytes, ctx.params.max_tx_bytes), ctx);
}
