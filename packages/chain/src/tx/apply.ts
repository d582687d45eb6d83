import { getAccount, findAccount, putAccount } from '../accounts.js';
import { ChainError } from '../errors.js';
import { nextColour, updateRiskStats } from '../poai/index.js';
import type { StateOverlay } from '../state-view.js';
import type { Address, ColourTransition, SignedTransaction, Transaction, TxKind } from '../types.js';
import { addressFromPublicKey } from '@self/crypto';
import type { TxContext, TxHandler } from './context.js';
import { applyEvidence } from './evidence.js';
import { txFee } from './fees.js';
import {
  applyAnchor,
  applyDidCreate,
  applyDidDeactivate,
  applyDidUpdate,
  applyNodeAnnounce,
} from './identity.js';
import { applyAppRegister, applyAppUpdate } from './apps.js';
import { applyBond, applyUnbond } from './stake.js';

export interface ApplyResult {
  /** Debited from the sender; the block epilogue distributes fees with the block reward. */
  fee: number;
  /** The sender's colour change; a block's colour list is these, in block order. */
  colour: ColourTransition;
  sender: Address;
}

const applyTransfer: TxHandler<'transfer'> = ({ state, tx, sender }) => {
  const { to, amount } = tx.body;
  const from = getAccount(state, sender);
  if (from.balance < amount) {
    throw new ChainError(
      'insufficient_funds',
      `balance ${from.balance} cannot send ${amount} after the fee`,
      {
        balance: from.balance,
        needed: amount,
      },
    );
  }
  putAccount(state, { ...from, balance: from.balance - amount });
  // Re-read: the recipient may be the sender itself.
  const recipient = getAccount(state, to);
  putAccount(state, { ...recipient, balance: recipient.balance + amount });
};

const HANDLERS: { [K in TxKind]: TxHandler<K> } = {
  transfer: applyTransfer,
  'did.create': applyDidCreate,
  'did.update': applyDidUpdate,
  'did.deactivate': applyDidDeactivate,
  'node.announce': applyNodeAnnounce,
  'app.register': applyAppRegister,
  'app.update': applyAppUpdate,
  anchor: applyAnchor,
  bond: applyBond,
  unbond: applyUnbond,
  evidence: applyEvidence,
};

/** The transfer amount and recipient the risk model learns from (other kinds: 0 and null). */
function riskUpdate(tx: Transaction, height: number): { height: number; amount: number; to: Address | null } {
  if (tx.kind !== 'transfer') return { height, amount: 0, to: null };
  const body = (tx as Transaction<'transfer'>).body;
  return { height, amount: body.amount, to: body.to };
}

/**
 * Applies one transaction that passed checkStateless. Common rules first (sender exists, nonce is
 * the next one, balance covers the fee), then the kind's rules. All writes go to a child layer
 * merged only on success, so a rejected transaction leaves `overlay` exactly as it was.
 */
export function applyTransaction(overlay: StateOverlay, stx: SignedTransaction, ctx: TxContext): ApplyResult {
  const state = overlay.child();
  const result = applyInside(state, stx, ctx);
  state.mergeInto(overlay);
  return result;
}

function applyInside(state: StateOverlay, stx: SignedTransaction, ctx: TxContext): ApplyResult {
  const tx = stx.tx;
  const sender = addressFromPublicKey(stx.signer);
  const account = findAccount(state, sender);
  if (!account) throw new ChainError('unknown_account', `${sender} has no account (it never received funds)`);
  if (tx.nonce !== account.nonce + 1) {
    throw new ChainError('bad_nonce', `nonce ${tx.nonce}, expected ${account.nonce + 1}`, {
      nonce: tx.nonce,
      expected: account.nonce + 1,
    });
  }
  const fee = txFee(tx);
  if (account.balance < fee) {
    throw new ChainError('insufficient_funds', `balance ${account.balance} cannot pay the fee ${fee}`, {
      balance: account.balance,
      needed: fee,
    });
  }
  const from = account.colour;
  const to = nextColour(from, ctx.txHash);
  putAccount(state, {
    ...account,
    balance: account.balance - fee,
    nonce: tx.nonce,
    colour: to,
    public_key: account.public_key ?? stx.signer,
    risk: updateRiskStats(account.risk, riskUpdate(tx, ctx.height)),
  });
  (HANDLERS[tx.kind] as TxHandler<TxKind>)({ state, tx, signer: stx.signer, sender, ctx });
  return { fee, sender, colour: { address: sender, from, to, tx_hash: ctx.txHash } };
}
