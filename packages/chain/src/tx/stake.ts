import {
  META,
  compareAscii,
  deleteMeta,
  getAccount,
  getMeta,
  getValidator,
  putAccount,
  putMeta,
  putValidator,
} from '../accounts.js';
import { ChainError } from '../errors.js';
import { INITIAL_REPUTATION } from '../poai/index.js';
import type { StateOverlay } from '../state-view.js';
import type { Address } from '../types.js';
import type { TxHandler } from './context.js';

/** Pending unbonding entries per account; bounds the account record (entries at one height merge). */
export const MAX_UNBONDING_ENTRIES = 16;

/**
 * Moves balance into the bond. The first bond must reach min_bond, which creates the validator
 * record; later bonds top it up by any amount. A slashed key can never bond again.
 */
export const applyBond: TxHandler<'bond'> = ({ state, tx, signer, sender, ctx }) => {
  const amount = tx.body.amount;
  const account = getAccount(state, sender);
  if (account.balance < amount) {
    throw new ChainError(
      'insufficient_funds',
      `balance ${account.balance} cannot bond ${amount} after the fee`,
      {
        balance: account.balance,
        needed: amount,
      },
    );
  }
  const validator = getValidator(state, sender);
  if (validator?.slashed)
    throw new ChainError('validator_slashed', `${sender} was slashed and cannot bond again`);
  const bonded = account.bonded + amount;
  if (!validator && bonded < ctx.params.min_bond) {
    throw new ChainError('bond_too_small', `a new validator must bond at least ${ctx.params.min_bond}`, {
      bonded,
      min_bond: ctx.params.min_bond,
    });
  }
  putAccount(state, { ...account, balance: account.balance - amount, bonded });
  if (!validator) {
    putValidator(state, {
      address: sender,
      public_key: signer,
      reputation: INITIAL_REPUTATION,
      jailed_until: 0,
      slashed: false,
      last_signed_height: 0,
    });
  }
};

/** Moves bonded stake into an unbonding entry that returns to the balance after unbonding_heights. */
export const applyUnbond: TxHandler<'unbond'> = ({ state, tx, sender, ctx }) => {
  const amount = tx.body.amount;
  const account = getAccount(state, sender);
  if (!getValidator(state, sender)) throw new ChainError('not_validator', `${sender} is not a validator`);
  if (account.bonded < amount) {
    throw new ChainError('insufficient_funds', `bonded ${account.bonded} is less than ${amount}`, {
      bonded: account.bonded,
      needed: amount,
    });
  }
  const release_height = ctx.height + ctx.params.unbonding_heights;
  const unbonding = account.unbonding.map((e) => ({ ...e }));
  const same = unbonding.find((e) => e.release_height === release_height);
  if (same) same.amount += amount;
  else if (unbonding.length >= MAX_UNBONDING_ENTRIES) {
    throw new ChainError(
      'limit_exceeded',
      `at most ${MAX_UNBONDING_ENTRIES} unbonding entries may be pending`,
    );
  } else unbonding.push({ amount, release_height });
  putAccount(state, { ...account, bonded: account.bonded - amount, unbonding });

  const key = META.unbondingAt(release_height);
  const due = getMeta<Address[]>(state, key) ?? [];
  if (!due.includes(sender)) putMeta(state, key, [...due, sender].sort(compareAscii));
};

export interface Release {
  address: Address;
  amount: number;
}

/**
 * Block prologue: returns every unbonding entry due at `height` to its account's balance. Must run
 * once at every height (entries are indexed by their exact release height).
 */
export function releaseUnbonding(state: StateOverlay, height: number): Release[] {
  const key = META.unbondingAt(height);
  const due = getMeta<Address[]>(state, key);
  if (!due) return [];
  const released: Release[] = [];
  for (const address of due) {
    const account = getAccount(state, address);
    let amount = 0;
    const keep = account.unbonding.filter((e) => {
      if (e.release_height > height) return true;
      amount += e.amount;
      return false;
    });
    putAccount(state, { ...account, balance: account.balance + amount, unbonding: keep });
    released.push({ address, amount });
  }
  deleteMeta(state, key);
  return released;
}
