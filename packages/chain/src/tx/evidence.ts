import { addressFromPublicKey, equalBytes } from '@self/crypto';
import {
  META,
  getAccount,
  getMeta,
  getTotalSupply,
  getValidator,
  putAccount,
  putMeta,
  putTotalSupply,
  putValidator,
} from '../accounts.js';
import { decodeSignedVote, verifyVoteSignature } from '../codec.js';
import { ChainError } from '../errors.js';
import { mulDivFloor } from '../poai/order.js';
import type { Address, SignedVote, TxBodies, VoteType } from '../types.js';
import type { TxHandler } from './context.js';
import { EVIDENCE_BOUNTY_BPS } from './fees.js';

/** Two votes by one key at one height, round and type, for different blocks (nil counts as a block). */
export interface Equivocation {
  offender: Address;
  signer: Uint8Array;
  height: number;
  round: number;
  type: VoteType;
  votes: [SignedVote, SignedVote];
}

function invalidEvidence(message: string, details?: Record<string, unknown>): never {
  throw new ChainError('invalid_evidence', message, details);
}

function decodeVote(bytes: Uint8Array, name: string): SignedVote {
  try {
    return decodeSignedVote(bytes);
  } catch (err) {
    if (err instanceof ChainError) invalidEvidence(`${name}: ${err.message}`, { cause: err.code });
    throw err;
  }
}

const sameHash = (a: Uint8Array | null, b: Uint8Array | null): boolean =>
  a === null || b === null ? a === b : equalBytes(a, b);

/** Decodes the two votes and checks that they conflict; signatures are checked by checkEvidence. */
export function parseEvidence(body: TxBodies['evidence'], chainId: string): Equivocation {
  const a = decodeVote(body.vote_a, 'vote_a');
  const b = decodeVote(body.vote_b, 'vote_b');
  if (!equalBytes(a.signer, b.signer)) invalidEvidence('the votes have different signers');
  if (a.vote.chain_id !== chainId || b.vote.chain_id !== chainId)
    invalidEvidence('a vote is for another chain');
  if (a.vote.height !== b.vote.height || a.vote.round !== b.vote.round || a.vote.type !== b.vote.type) {
    invalidEvidence('the votes are not for one height, round and type');
  }
  if (sameHash(a.vote.block_hash, b.vote.block_hash)) invalidEvidence('the votes are for the same block');
  return {
    offender: addressFromPublicKey(a.signer),
    signer: a.signer,
    height: a.vote.height,
    round: a.vote.round,
    type: a.vote.type,
    votes: [a, b],
  };
}

/** parseEvidence plus both signatures: everything about evidence that needs no state. */
export function checkEvidence(body: TxBodies['evidence'], chainId: string): Equivocation {
  const ev = parseEvidence(body, chainId);
  if (!verifyVoteSignature(ev.votes[0]) || !verifyVoteSignature(ev.votes[1])) {
    invalidEvidence('a vote signature does not verify');
  }
  return ev;
}

/**
 * Slashes slash_bps of the offender's bond and of its pending unbonding entries (stake it tried to
 * withdraw is still accountable), jails it, zeroes its reputation and marks it slashed for good.
 * The submitter gets EVIDENCE_BOUNTY_BPS of the slashed amount; the rest is burned.
 */
export const applyEvidence: TxHandler<'evidence'> = ({ state, tx, sender, ctx }) => {
  const ev = parseEvidence(tx.body, ctx.chainId);
  const validator = getValidator(state, ev.offender);
  if (!validator) throw new ChainError('not_validator', `${ev.offender} has never been a validator`);
  if (ev.height > ctx.height) invalidEvidence('the votes are for a future height', { height: ev.height });
  if (ctx.height - ev.height > ctx.params.unbonding_heights) {
    throw new ChainError('expired', 'evidence is older than the unbonding period', { height: ev.height });
  }
  const marker = META.slashedAt(ev.offender, ev.height);
  if (getMeta(state, marker) !== undefined) {
    throw new ChainError('duplicate', 'this equivocation was already punished', {
      offender: ev.offender,
      height: ev.height,
    });
  }

  const bps = ctx.params.slash_bps;
  const offender = getAccount(state, ev.offender);
  const fromBond = mulDivFloor(offender.bonded, bps, 10_000);
  let slashed = fromBond;
  const unbonding = offender.unbonding.map((e) => {
    const cut = mulDivFloor(e.amount, bps, 10_000);
    slashed += cut;
    return { ...e, amount: e.amount - cut };
  });
  putAccount(state, { ...offender, bonded: offender.bonded - fromBond, unbonding });

  putValidator(state, {
    ...validator,
    reputation: 0,
    slashed: true,
    jailed_until: Math.max(validator.jailed_until, ctx.height + ctx.params.jail_heights),
  });
  putMeta(state, marker, ctx.txHash);

  const bounty = mulDivFloor(slashed, EVIDENCE_BOUNTY_BPS, 10_000);
  const submitter = getAccount(state, sender);
  putAccount(state, { ...submitter, balance: submitter.balance + bounty });
  putTotalSupply(state, getTotalSupply(state) - (slashed - bounty));
};
