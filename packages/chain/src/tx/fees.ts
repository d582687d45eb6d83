import type { Transaction, TxKind } from '../types.js';

/**
 * Points each kind costs; fee = point_price × points. Points reflect the state a kind writes and
 * keeps: a DID or an app is a long-lived record, a transfer touches two balances.
 */
export const TX_POINTS: Readonly<Record<TxKind, number>> = {
  transfer: 1,
  anchor: 2,
  'did.create': 10,
  'did.update': 5,
  'did.deactivate': 2,
  'node.announce': 2,
  'app.register': 10,
  'app.update': 5,
  bond: 5,
  unbond: 5,
  evidence: 5,
};

/**
 * Evidence pays the normal fee; its submitter receives this share (basis points) of the slashed
 * amount, so reporting equivocation is worth more than it costs. The rest is burned.
 */
export const EVIDENCE_BOUNTY_BPS = 1_000;

/** point_price × points; may exceed 2^53 for absurd prices (stateless checks reject those). */
export const txFee = (tx: Pick<Transaction, 'kind' | 'point_price'>): number =>
  tx.point_price * TX_POINTS[tx.kind];

/** Amount leaving the sender's balance beyond the fee (transfers and bonds). */
export function txAmount(tx: Transaction): number {
  if (tx.kind === 'transfer') return (tx as Transaction<'transfer'>).body.amount;
  if (tx.kind === 'bond') return (tx as Transaction<'bond'>).body.amount;
  return 0;
}

/** Fee plus moved amount: what the sender's balance must cover. */
export const txCost = (tx: Transaction): number => txFee(tx) + txAmount(tx);
