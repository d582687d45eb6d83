import type { ChainParams } from '../params.js';
import type { StateOverlay } from '../state-view.js';
import type { Address, Transaction, TxKind } from '../types.js';

/** What applying a transaction needs besides state: where it is included and under which rules. */
export interface TxContext {
  height: number;
  txHash: Uint8Array;
  params: ChainParams;
  chainId: string;
}

/** One kind's state transition, run after the nonce, fee and colour of the sender are settled. */
export interface HandlerInput<K extends TxKind> {
  state: StateOverlay;
  tx: Transaction<K>;
  /** Encoded public key that signed (the sender's key, or a DID delegate's for anchor/node.announce). */
  signer: Uint8Array;
  /** addressFromPublicKey(signer): the account that pays the fee. */
  sender: Address;
  ctx: TxContext;
}

export type TxHandler<K extends TxKind> = (input: HandlerInput<K>) => void;
