import { describe, expect, it } from 'vitest';
import {
  accountKeysFromPhrase,
  accountKeysFromSeed,
  addressFromPublicKey,
  sha512,
  toHex,
  utf8,
} from '@self/crypto';
import { docVector } from '../../../scripts/doc-vectors.js';
import {
  getAccount,
  getChainParams,
  getReserveBalance,
  getTotalSupply,
  getValidator,
  listValidators,
  reserveAddress,
} from '../src/accounts.js';
import { ChainError } from '../src/errors.js';
import {
  DEV_FAUCET_PHRASE,
  devValidatorKey,
  genesisChanges,
  genesisFromJSON,
  genesisHash,
  genesisToJSON,
  makeDevGenesis,
  validateGenesis,
  type GenesisJSON,
} from '../src/genesis.js';
import { DEFAULT_PARAMS, RESERVE_ADDRESS_LABEL, type Genesis } from '../src/params.js';
import type { StateReader } from '../src/state-view.js';

const DOC = 'docs/protocol/transactions.md';
const keys = (label: string) => accountKeysFromSeed(sha512(utf8(label)), 'ed25519');
const v0 = keys('g-v0');
const v1 = keys('g-v1');
const alice = keys('g-alice');

const base = (): Genesis => ({
  chain_id: 'self-test',
  genesis_time: 1_000,
  params: { ...DEFAULT_PARAMS, min_bond: 100 },
  validators: [
    { address: v0.address, public_key: v0.account.publicKey, bonded: 100 },
    { address: v1.address, public_key: v1.account.publicKey, bonded: 250 },
  ],
  accounts: [
    { address: alice.address, balance: 1_000 },
    { address: v0.address, balance: 7 },
  ],
  faucet: alice.address,
  signature_schemes: ['ed25519'],
});

function reader(g: Genesis): StateReader {
  const m = new Map<string, Uint8Array>();
  for (const [k, v] of genesisChanges(g)) if (v) m.set(k, v);
  return { get: (k) => m.get(k) };
}

function expectInvalid(g: Genesis, fragment: string): void {
  try {
    validateGenesis(g);
  } catch (err) {
    expect(err).toBeInstanceOf(ChainError);
    expect((err as ChainError).code).toBe('invalid_genesis');
    expect((err as ChainError).message).toContain(fragment);
    return;
  }
  throw new Error('expected invalid_genesis');
}

describe('validateGenesis', () => {
  it('accepts a consistent genesis', () => {
    expect(() => validateGenesis(base())).not.toThrow();
  });

  it.each<[string, (g: Genesis) => void, string]>([
    ['no validators', (g) => (g.validators = []), 'validators'],
    ['a duplicate validator', (g) => g.validators.push(g.validators[0]!), 'duplicate'],
    ['a duplicate account', (g) => g.accounts.push({ address: alice.address, balance: 1 }), 'duplicate'],
    [
      'a key that is not the address’s',
      (g) => (g.validators[0]!.public_key = v1.account.publicKey),
      'does not match',
    ],
    [
      'a scheme the chain does not allow',
      (g) => (g.signature_schemes = ['hybrid-ed25519-ml-dsa-65']),
      'signature_schemes does not allow',
    ],
    ['a bond below min_bond', (g) => (g.validators[0]!.bonded = 99), 'min_bond'],
    ['a faucet that is not an account', (g) => (g.faucet = v1.address), 'faucet'],
    ['slash_bps over 100%', (g) => (g.params.slash_bps = 10_001), 'slash_bps'],
    [
      'max_tx_bytes above max_block_bytes',
      (g) => (g.params.max_block_bytes = g.params.max_tx_bytes - 1),
      'max_tx_bytes',
    ],
    ['min_point_price 0', (g) => (g.params.min_point_price = 0), 'min_point_price'],
    ['an unknown timing profile', (g) => (g.params.timing = 'fast' as 'local'), 'timing'],
    ['an extra params key', (g) => Object.assign(g.params, { surprise: 1 }), 'surprise'],
    ['a supply beyond 2^53', (g) => (g.accounts[0]!.balance = Number.MAX_SAFE_INTEGER), '2^53'],
    ['a bad chain id', (g) => (g.chain_id = 'Self Test'), 'chain_id'],
  ])('rejects %s', (_name, mutate, fragment) => {
    const g = base();
    mutate(g);
    expectInvalid(g, fragment);
  });
});

describe('genesis state', () => {
  it('writes accounts, validators with bond, reputation and keys, the supply and params', () => {
    const g = base();
    const state = reader(g);
    expect(getAccount(state, alice.address)).toMatchObject({
      balance: 1_000,
      bonded: 0,
      nonce: 0,
      colour: 0,
      public_key: null,
    });
    expect(getAccount(state, v0.address)).toMatchObject({
      balance: 7,
      bonded: 100,
      public_key: v0.account.publicKey,
    });
    expect(getAccount(state, v1.address)).toMatchObject({ balance: 0, bonded: 250 });
    expect(getValidator(state, v1.address)).toEqual({
      address: v1.address,
      public_key: v1.account.publicKey,
      reputation: 5_000,
      jailed_until: 0,
      slashed: false,
      last_signed_height: 0,
    });
    expect(listValidators(state, { height: 1, params: g.params }).map((v) => [v.address, v.bonded])).toEqual(
      [
        [v0.address, 100],
        [v1.address, 250],
      ].sort((a, b) => ((a[0] as string) < (b[0] as string) ? -1 : 1)),
    );
    expect(getTotalSupply(state)).toBe(1_000 + 7 + 100 + 250);
    expect(getChainParams(state)).toEqual(g.params);
    expect(getReserveBalance(state)).toBe(0);
  });

  it('derives the reserve address from its label', () => {
    expect(reserveAddress()).toMatch(/^self1[02-9ac-hj-np-z]{38}$/);
    expect(reserveAddress()).toBe(reserveAddress());
  });
});

describe('genesis hash and files', () => {
  it('hashes deterministically and changes with any field', () => {
    expect(genesisHash(base())).toEqual(genesisHash(base()));
    expect(genesisHash({ ...base(), genesis_time: 1_001 })).not.toEqual(genesisHash(base()));
  });

  it('round-trips through JSON with hex keys', () => {
    const g = base();
    const json = JSON.parse(JSON.stringify(genesisToJSON(g))) as GenesisJSON;
    expect(json.validators[0]!.public_key).toBe(toHex(v0.account.publicKey));
    const back = genesisFromJSON(json);
    expect(back).toEqual(g);
    expect(genesisHash(back)).toEqual(genesisHash(g));
    expect(() =>
      genesisFromJSON({ ...json, validators: [{ ...json.validators[0]!, public_key: 'XYZ' }] }),
    ).toThrow(ChainError);
    expect(() => genesisFromJSON(null)).toThrow(ChainError);
  });

  it('matches the documented reserve address and dev faucet', () => {
    const r = docVector<{ label: string; address: string }>(DOC, 'reserve-address');
    expect(r.label).toBe(RESERVE_ADDRESS_LABEL);
    expect(reserveAddress()).toBe(r.address);
    const f = docVector<{ phrase: string; ed25519_address: string; hybrid_address: string }>(
      DOC,
      'dev-faucet',
    );
    expect(f.phrase).toBe(DEV_FAUCET_PHRASE);
    expect(accountKeysFromPhrase(f.phrase, 'ed25519').address).toBe(f.ed25519_address);
    expect(accountKeysFromPhrase(f.phrase).address).toBe(f.hybrid_address);
  });

  it('matches the documented small genesis', () => {
    const v = docVector<{ genesis: GenesisJSON; genesis_hash: string }>(DOC, 'genesis-small');
    const g = genesisFromJSON(v.genesis);
    expect(toHex(genesisHash(g))).toBe(v.genesis_hash);
  });
});

describe('dev genesis', () => {
  it('is reproducible: same keys, same hash', () => {
    const a = makeDevGenesis({ validators: 3, scheme: 'ed25519' });
    const b = makeDevGenesis({ validators: 3, scheme: 'ed25519' });
    expect(genesisHash(a.genesis)).toEqual(genesisHash(b.genesis));
    expect(a.validatorKeys.map((k) => toHex(k.publicKey))).toEqual(
      b.validatorKeys.map((k) => toHex(k.publicKey)),
    );
    expect(a.genesis.validators[1]!.public_key).toEqual(devValidatorKey(1, 'ed25519').publicKey);
    const faucet = accountKeysFromPhrase(DEV_FAUCET_PHRASE, 'ed25519');
    expect(a.genesis.faucet).toBe(faucet.address);
    expect(a.faucetKey && addressFromPublicKey(a.faucetKey.publicKey)).toBe(faucet.address);
    expect(a.genesis.validators.every((v) => v.bonded === DEFAULT_PARAMS.min_bond)).toBe(true);
    expect(() => genesisChanges(a.genesis)).not.toThrow();
  });

  it('uses hybrid keys by default and accepts given keys', () => {
    const d = makeDevGenesis({ validators: 1, faucetPhrase: null, chainId: 'self-h' });
    expect(d.validatorKeys[0]!.scheme).toBe('hybrid-ed25519-ml-dsa-65');
    expect(d.genesis.faucet).toBeNull();
    const given = makeDevGenesis({
      validators: [v0.account],
      faucetPhrase: null,
      params: { min_bond: 5 },
      bond: 9,
    });
    expect(given.genesis.validators).toEqual([
      { address: v0.address, public_key: v0.account.publicKey, bonded: 9 },
    ]);
  });
});
