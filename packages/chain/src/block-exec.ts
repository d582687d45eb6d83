import { addressFromPublicKey, equalBytes, toHex } from '@self/crypto';
import { decodeTrusted } from './encoding.js';
import { ChainError } from './errors.js';
import type { ChainParams } from './params.js';
import {
  RISK_MAX_BPS,
  colourChecker,
  isDelayed,
  splitRewards,
  txRisk,
  updateReputation,
} from './poai/index.js';
import type { ReferenceCandidate } from './consensus/chain-port.js';
import { ExecMemo, RecordingOverlay, type TxTrace } from './exec-memo.js';
import { StateOverlay, type StateReader } from './state-view.js';
import type { Account } from './state-types.js';
import type { Address, ColourTransition, CommitCertificate, SignedTransaction } from './types.js';
import {
  getAccount,
  getMeta,
  getTotalSupply,
  getValidator,
  putAccount,
  putMeta,
  putTotalSupply,
  putValidator,
  reserveAddress,
} from './accounts.js';
import { applyTransaction, releaseUnbonding } from './tx/index.js';

/** Meta records (names under `meta/`) the block prologue and epilogue keep in state. */
export const EXEC_META = {
  /** Committee of the height being executed: [address, public key][] in draw order. */
  committee: 'committee',
  /** Fees collected by the parent block, paid out with the block reward in the next prologue. */
  lastFees: 'last_fees',
  lastProposer: 'last_proposer',
} as const;

export interface DecodedTx {
  stx: SignedTransaction;
  bytes: Uint8Array;
  hash: Uint8Array;
}

export interface ExecInput {
  height: number;
  proposer: Address;
  /** The committee of this height, recorded in state so the next block can reward and rate it. */
  committee: Array<{ address: Address; publicKey: Uint8Array }>;
  /** Signers of the parent's certificate (already verified by the caller). */
  lastCommitSigners: Address[] | null;
  txs: DecodedTx[];
}

export interface ExecResult {
  overlay: StateOverlay;
  included: DecodedTx[];
  /** Build mode only: transactions left out because they failed, with the reason. */
  failed: Array<{ tx: DecodedTx; code: string }>;
  colours: ColourTransition[];
  candidates: ReferenceCandidate[];
  efficiency: number;
  fees: number;
  pointPrice: number;
}

export interface ExecContext {
  chainId: string;
  params: ChainParams;
}

/**
 * Executes a block body over `base`. In 'build' mode a transaction that fails (or must wait,
 * being risky) is left out; in 'check' mode it makes the whole block invalid, because an honest
 * builder would never have included it.
 */
export function executeBlock(
  base: StateReader,
  input: ExecInput,
  ctx: ExecContext,
  mode: 'build' | 'check',
  limits?: { maxTxs: number; maxBytes: number },
  memo?: ExecMemo,
): ExecResult {
  memo?.at(input.height);
  const overlay = new StateOverlay(base);
  prologue(overlay, input, ctx);
  const included: DecodedTx[] = [];
  const failed: ExecResult['failed'] = [];
  const colours: ColourTransition[] = [];
  const candidates: ReferenceCandidate[] = [];
  let efficiency = 0;
  let fees = 0;
  let bytes = 0;
  for (const item of input.txs) {
    if (limits && (included.length >= limits.maxTxs || bytes + item.bytes.length > limits.maxBytes)) break;
    const replayed = memo?.reusable(item.hash, item.bytes, overlay);
    const trace = replayed ?? executeTx(overlay, item, input.height, ctx, mode, failed);
    if (!trace) continue;
    if (replayed) overlay.apply(replayed.writes);
    else memo?.remember(item.hash, trace);
    included.push(item);
    colours.push(trace.colour);
    candidates.push(trace.candidate);
    efficiency += RISK_MAX_BPS - trace.risk;
    fees += trace.fee;
    bytes += item.bytes.length;
  }
  putMeta(overlay, EXEC_META.lastFees, fees);
  putMeta(overlay, EXEC_META.lastProposer, input.proposer);
  return {
    overlay,
    included,
    failed,
    colours,
    candidates,
    efficiency,
    fees,
    pointPrice: medianPrice(included),
  };
}

/**
 * Risk check and `applyTransaction` of one transaction over `overlay`, recording what it read.
 * Returns its trace with its writes merged into `overlay`, or null when it was left out (build
 * mode); in check mode a transaction that cannot be applied throws.
 */
function executeTx(
  overlay: StateOverlay,
  item: DecodedTx,
  height: number,
  ctx: ExecContext,
  mode: 'build' | 'check',
  failed: ExecResult['failed'],
): TxTrace | null {
  const child = new RecordingOverlay(overlay);
  const sender = addressFromPublicKey(item.stx.signer);
  const account = getAccount(child, sender);
  const tx = item.stx.tx;
  const to = tx.kind === 'transfer' ? (tx.body as { to: Address }).to : null;
  const amount = tx.kind === 'transfer' ? (tx.body as { amount: number }).amount : 0;
  const risk = txRisk({
    kind: tx.kind,
    amount,
    nonce: tx.nonce,
    height,
    stats: account.risk,
    recipient: to ? getAccount(child, to).risk : null,
    sender,
  });
  if (isDelayed(risk, account.risk, height)) {
    if (mode === 'check')
      throw new ChainError('risk_delayed', `transaction ${toHex(item.hash)} must wait: risk ${risk}`);
    return null;
  }
  let result: { fee: number; colour: ColourTransition };
  try {
    result = applyTransaction(child, item.stx, {
      height,
      txHash: item.hash,
      params: ctx.params,
      chainId: ctx.chainId,
    });
  } catch (err) {
    if (mode === 'check' || !(err instanceof ChainError)) throw err;
    failed.push({ tx: item, code: err.code });
    return null;
  }
  child.mergeInto(overlay);
  return {
    bytes: item.bytes,
    reads: child.reads,
    writes: child.changes(),
    risk,
    fee: result.fee,
    colour: result.colour,
    candidate: {
      hash: item.hash,
      sender,
      nonce: tx.nonce,
      point_price: tx.point_price,
      sender_last_height: account.risk.last_height,
      risk,
      bytes: item.bytes.length,
    },
  };
}

/** Pays the parent block's rewards, updates reputations, releases unbonded stake, records the committee. */
function prologue(overlay: StateOverlay, input: ExecInput, ctx: ExecContext): void {
  const previousCommittee = readCommittee(overlay);
  if (input.lastCommitSigners && previousCommittee) {
    const signers = new Set(input.lastCommitSigners);
    const fees = getMeta<number>(overlay, EXEC_META.lastFees) ?? 0;
    const builder = getMeta<string>(overlay, EXEC_META.lastProposer) ?? null;
    const total = fees + ctx.params.block_reward;
    if (builder && total > 0) {
      const addresses = previousCommittee.map((m) => m.address);
      const rewards = splitRewards({
        total,
        builder,
        voters: [...signers].sort(),
        colourChecker: colourChecker(addresses, input.height - 1, [...signers]),
        reserve: reserveAddress(),
      });
      for (const address of [...rewards.keys()].sort()) {
        const amount = rewards.get(address)!;
        if (amount === 0) continue;
        const account = getAccount(overlay, address);
        putAccount(overlay, { ...account, balance: account.balance + amount });
      }
      // Fees were already taken from senders; only the block reward is new money.
      putTotalSupply(overlay, getTotalSupply(overlay) + ctx.params.block_reward);
    }
    for (const member of previousCommittee) {
      const v = getValidator(overlay, member.address);
      if (!v || v.slashed) continue;
      const signed = signers.has(member.address);
      putValidator(overlay, {
        ...v,
        reputation: updateReputation(v.reputation, signed ? 'timely' : 'absent'),
        last_signed_height: signed ? input.height - 1 : v.last_signed_height,
      });
    }
  }
  releaseUnbonding(overlay, input.height);
  // Committees rarely change between heights; an unchanged record is not rewritten (with hybrid
  // keys it is ~2 KB per member).
  if (!sameCommittee(previousCommittee, input.committee)) {
    putMeta(
      overlay,
      EXEC_META.committee,
      input.committee.map((m) => [m.address, m.publicKey]),
    );
  }
}

/**
 * Token conservation: every base unit is in a balance, a bond, an unbonding entry, or in the fees
 * a block collected and the next block pays out. Returns the two sides; they must be equal.
 */
export function supplyAudit(state: { entries(): Iterable<[string, Uint8Array]> } & StateReader): {
  held: number;
  totalSupply: number;
} {
  let held = getMeta<number>(state, EXEC_META.lastFees) ?? 0;
  for (const [key, value] of state.entries()) {
    if (!key.startsWith('account/')) continue;
    const a = decodeTrusted(value) as Account;
    held += a.balance + a.bonded + a.unbonding.reduce((n, u) => n + u.amount, 0);
  }
  return { held, totalSupply: getTotalSupply(state) };
}

export function readCommittee(
  reader: StateReader,
): Array<{ address: Address; publicKey: Uint8Array }> | null {
  const members = getMeta<Array<[Address, Uint8Array]>>(reader, EXEC_META.committee);
  return members ? members.map(([address, publicKey]) => ({ address, publicKey })) : null;
}

function sameCommittee(a: ExecInput['committee'] | null, b: ExecInput['committee']): boolean {
  return (
    a !== null &&
    a.length === b.length &&
    a.every((m, i) => m.address === b[i]!.address && equalBytes(m.publicKey, b[i]!.publicKey))
  );
}

/** Lower median of the included transactions' point prices; 0 for an empty block. */
export function medianPrice(txs: DecodedTx[]): number {
  if (txs.length === 0) return 0;
  const prices = txs.map((t) => t.stx.tx.point_price).sort((a, b) => a - b);
  return prices[(prices.length - 1) >> 1]!;
}

export type { CommitCertificate };
