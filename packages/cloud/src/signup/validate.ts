import { sha256, toHex } from '@self/crypto';
import {
  ChainError,
  DEFAULT_PARAMS,
  checkStateless,
  decodeSignedTransaction,
  txHash,
  type SignedTransaction,
  type TxKind,
} from '@self/chain';
import { CloudError } from '../http/errors.js';

/** A transaction a person handed the gateway, checked as far as it can be without chain state. */
export interface CheckedIdentityTx<K extends TxKind = TxKind> {
  stx: SignedTransaction<K>;
  /** The canonical bytes, as submitted. */
  bytes: Uint8Array;
  hash: string;
  sender: string;
  fee: number;
}

const invalidTx = (reason: string, message: string, details: Record<string, unknown> = {}): CloudError =>
  new CloudError(400, 'invalid_transaction', message, { ...details, reason });

/** The transaction field of a request: base64url (RFC 4648 §5, no padding). */
export function decodeTransactionField(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1)
    throw invalidTx(
      'malformed',
      'transaction must be base64url (no padding) of the signed transaction bytes',
    );
  return new Uint8Array(Buffer.from(text, 'base64url'));
}

/**
 * Decodes and checks a signed transaction the gateway will relay: canonical encoding, chain id,
 * kind, then everything the chain checks without state (shape, body rules such as the DID
 * document's key types, signer scheme, signature). Every refusal is a 400 `invalid_transaction`
 * whose `details.reason` is the chain's code, or `wrong_kind`.
 */
export function checkIdentityTransaction<K extends TxKind>(
  bytes: Uint8Array,
  chainId: string,
  kinds: readonly K[],
): CheckedIdentityTx<K> {
  let stx: SignedTransaction;
  try {
    stx = decodeSignedTransaction(bytes, DEFAULT_PARAMS.max_tx_bytes);
  } catch (err) {
    if (err instanceof ChainError) throw invalidTx(err.code, `not a signed transaction: ${err.message}`);
    throw err;
  }
  if (stx.tx.chain_id !== chainId)
    throw invalidTx(
      'wrong_chain',
      `the transaction is for chain ${stx.tx.chain_id}, this cloud uses ${chainId}`,
      {
        chain_id: chainId,
      },
    );
  if (!(kinds as readonly string[]).includes(stx.tx.kind))
    throw invalidTx('wrong_kind', `expected ${kinds.join(' or ')}, got ${stx.tx.kind}`, { expected: kinds });
  try {
    const checked = checkStateless(
      stx,
      {
        chainId,
        params: DEFAULT_PARAMS,
        // The node enforces its genesis' schemes; any known scheme is well-formed here.
        schemes: ['hybrid-ed25519-ml-dsa-65', 'ed25519'],
      },
      // decodeSignedTransaction accepts canonical bytes only, so these are what blocks will carry.
      { bytes, hash: txHash(stx) },
    );
    return {
      stx: checked.stx as SignedTransaction<K>,
      bytes: checked.bytes,
      hash: toHex(checked.hash),
      sender: checked.sender,
      fee: checked.fee,
    };
  } catch (err) {
    if (err instanceof ChainError) throw invalidTx(err.code, err.message, err.details ?? {});
    throw err;
  }
}

/** SHA-256 of an encryption key, hex: what the account row remembers of it. */
export const keyFingerprint = (key: Uint8Array): string => toHex(sha256(key));
