import {
  accountKeysFromPhrase,
  accountKeysFromSeed,
  addressFromPublicKey,
  fromHex,
  schemeOfPublicKey,
  sha512,
  toHex,
  utf8,
  type SigningKey,
} from '@self/crypto';
import { META, getAccount, putAccount, putMeta, putTotalSupply, putValidator } from './accounts.js';
import { hashValue } from './encoding.js';
import { ChainError } from './errors.js';
import {
  DEFAULT_PARAMS,
  TIMING_PROFILES,
  type ChainParams,
  type Genesis,
  type GenesisAccount,
} from './params.js';
import { INITIAL_REPUTATION } from './poai/index.js';
import {
  LIMITS,
  address,
  bytes,
  list,
  nullable,
  oneOf,
  parseChainId,
  record,
  uint,
  unique,
} from './schema/index.js';
import { StateOverlay, type StateChanges } from './state-view.js';

export const GENESIS_DOMAIN = 'self-chain-genesis-v1';

type Scheme = Genesis['signature_schemes'][number];
const SCHEMES: readonly Scheme[] = ['hybrid-ed25519-ml-dsa-65', 'ed25519'];

const PARAM_KEYS: ReadonlyArray<keyof ChainParams> = [
  'committee_size',
  'max_block_txs',
  'max_block_bytes',
  'max_tx_bytes',
  'min_point_price',
  'point_price_target',
  'min_bond',
  'unbonding_heights',
  'slash_bps',
  'jail_heights',
  'block_reward',
  'timing',
];

function invalid(message: string, details?: Record<string, unknown>): never {
  throw new ChainError('invalid_genesis', message, details);
}

function parseParams(value: unknown): ChainParams {
  const o = record(value, 'params', PARAM_KEYS);
  const n = (k: keyof ChainParams, min = 0, max = Number.MAX_SAFE_INTEGER): number =>
    uint(o[k], `params.${k}`, min, max);
  return {
    committee_size: n('committee_size', 0, LIMITS.maxCertificateVotes),
    max_block_txs: n('max_block_txs', 1, LIMITS.maxBlockTxs),
    max_block_bytes: n('max_block_bytes', 1024, LIMITS.maxBlockBytes),
    // Blocks decode each transaction under LIMITS.maxTxBytes, so the parameter cannot exceed it.
    max_tx_bytes: n('max_tx_bytes', 1024, LIMITS.maxTxBytes),
    min_point_price: n('min_point_price', 1),
    point_price_target: n('point_price_target', 1),
    min_bond: n('min_bond', 1),
    unbonding_heights: n('unbonding_heights', 1),
    slash_bps: n('slash_bps', 0, 10_000),
    jail_heights: n('jail_heights'),
    block_reward: n('block_reward'),
    timing: oneOf(
      o.timing,
      'params.timing',
      Object.keys(TIMING_PROFILES) as Array<keyof typeof TIMING_PROFILES>,
    ),
  };
}

/** Shape only (exact keys, types, bounds); validateGenesis adds the cross-field rules. */
function parseGenesis(value: unknown): Genesis {
  const o = record(value, 'genesis', [
    'chain_id',
    'genesis_time',
    'params',
    'validators',
    'accounts',
    'faucet',
    'signature_schemes',
  ]);
  return {
    chain_id: parseChainId(o.chain_id, 'chain_id'),
    genesis_time: uint(o.genesis_time, 'genesis_time'),
    params: parseParams(o.params),
    validators: list(
      o.validators,
      'validators',
      LIMITS.maxCertificateVotes,
      (v, p) => {
        const r = record(v, p, ['address', 'public_key', 'bonded']);
        return {
          address: address(r.address, `${p}.address`),
          public_key: bytes(r.public_key, `${p}.public_key`, { min: 1, max: LIMITS.maxPublicKeyBytes }),
          bonded: uint(r.bonded, `${p}.bonded`),
        };
      },
      1,
    ),
    accounts: list(o.accounts, 'accounts', LIMITS.maxBlockTxs, (v, p) => {
      const r = record(v, p, ['address', 'balance']);
      return { address: address(r.address, `${p}.address`), balance: uint(r.balance, `${p}.balance`) };
    }),
    faucet: nullable(o.faucet, 'faucet', address),
    signature_schemes: list(
      o.signature_schemes,
      'signature_schemes',
      SCHEMES.length,
      (v, p) => oneOf(v, p, SCHEMES),
      1,
    ),
  };
}

/**
 * Throws ChainError('invalid_genesis') unless the genesis is well-formed and consistent: unique
 * addresses per list, validator keys matching their addresses and allowed schemes, bonds ≥ min_bond,
 * a faucet that is a funded account, sane parameters and a total supply below 2^53.
 */
export function validateGenesis(g: Genesis): void {
  try {
    parseGenesis(g);
  } catch (err) {
    if (err instanceof ChainError) invalid(err.message, err.details);
    throw err;
  }
  try {
    unique(g.signature_schemes, 'signature_schemes');
    unique(
      g.validators.map((v) => v.address),
      'validators',
    );
    unique(
      g.accounts.map((a) => a.address),
      'accounts',
    );
  } catch (err) {
    if (err instanceof ChainError) invalid(err.message);
    throw err;
  }
  const p = g.params;
  if (p.max_tx_bytes > p.max_block_bytes) invalid('params.max_tx_bytes exceeds params.max_block_bytes');
  if (p.point_price_target < p.min_point_price)
    invalid('params.point_price_target is below params.min_point_price');
  g.validators.forEach((v, i) => {
    let scheme: string;
    try {
      scheme = schemeOfPublicKey(v.public_key);
    } catch {
      invalid(`validators[${i}].public_key has an unknown scheme`);
    }
    if (!(g.signature_schemes as readonly string[]).includes(scheme)) {
      invalid(`validators[${i}] uses ${scheme}, which signature_schemes does not allow`);
    }
    if (addressFromPublicKey(v.public_key) !== v.address)
      invalid(`validators[${i}].address does not match its public key`);
    if (v.bonded < p.min_bond) invalid(`validators[${i}].bonded is below params.min_bond`);
  });
  if (g.faucet !== null && !g.accounts.some((a) => a.address === g.faucet)) {
    invalid('the faucet must be one of the accounts');
  }
  if (!Number.isSafeInteger(totalSupply(g))) invalid('total supply exceeds 2^53 − 1');
}

function totalSupply(g: Genesis): number {
  let sum = 0;
  for (const a of g.accounts) sum += a.balance;
  for (const v of g.validators) sum += v.bonded;
  return sum;
}

/** hashValue('self-chain-genesis-v1', genesis): nodes refuse peers with another genesis hash. */
export const genesisHash = (g: Genesis): Uint8Array => hashValue(GENESIS_DOMAIN, g);

/**
 * The state before block 1: accounts with their balances, validators with their bond (minted),
 * reputation INITIAL_REPUTATION and recorded public keys, the validator index, the total supply and
 * the parameters in force (meta/params).
 */
export function genesisChanges(g: Genesis): StateChanges {
  validateGenesis(g);
  const state = new StateOverlay({ get: () => undefined });
  for (const a of g.accounts) putAccount(state, { ...getAccount(state, a.address), balance: a.balance });
  for (const v of g.validators) {
    putAccount(state, { ...getAccount(state, v.address), bonded: v.bonded, public_key: v.public_key });
    putValidator(state, {
      address: v.address,
      public_key: v.public_key,
      reputation: INITIAL_REPUTATION,
      jailed_until: 0,
      slashed: false,
      last_signed_height: 0,
    });
  }
  putTotalSupply(state, totalSupply(g));
  putMeta(state, META.params, g.params);
  return state.changes();
}

// ---- JSON files ---------------------------------------------------------------------------------

/** genesis.json: the Genesis with public keys as lowercase hex. */
export interface GenesisJSON extends Omit<Genesis, 'validators'> {
  validators: Array<{ address: string; public_key: string; bonded: number }>;
}

export function genesisToJSON(g: Genesis): GenesisJSON {
  return { ...g, validators: g.validators.map((v) => ({ ...v, public_key: toHex(v.public_key) })) };
}

/** Parses and validates a genesis file's JSON (throws ChainError('invalid_genesis')). */
export function genesisFromJSON(json: unknown): Genesis {
  const o = json as { validators?: unknown };
  if (typeof json !== 'object' || json === null || !Array.isArray(o.validators))
    invalid('genesis.validators must be an array');
  const validators = o.validators.map((v: unknown, i: number) => {
    const r = v as { public_key?: unknown };
    if (typeof v !== 'object' || v === null || typeof r.public_key !== 'string') {
      invalid(`validators[${i}].public_key must be a hex string`);
    }
    try {
      return { ...(v as object), public_key: fromHex(r.public_key) };
    } catch {
      invalid(`validators[${i}].public_key must be lowercase hex`);
    }
  });
  const g = { ...(json as object), validators } as unknown as Genesis;
  validateGenesis(g);
  return parseGenesis(g);
}

// ---- Dev chains ---------------------------------------------------------------------------------

/**
 * The testnet faucet's recovery phrase (a BIP39 test vector). It is public on purpose: anyone may
 * take test tokens. Never use it on a chain whose tokens are worth anything.
 */
export const DEV_FAUCET_PHRASE =
  'legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth title';

/** 2026-01-01T00:00:00Z: a fixed genesis time keeps dev genesis hashes reproducible. */
export const DEV_GENESIS_TIME = 1_767_225_600_000;

/** Validator i of every dev chain: seed = sha512(utf8(`self-dev-validator-${i}`)), as a BIP39 seed. */
export function devValidatorKey(i: number, scheme: Scheme = 'hybrid-ed25519-ml-dsa-65'): SigningKey {
  return accountKeysFromSeed(sha512(utf8(`self-dev-validator-${i}`)), scheme).account;
}

export interface DevGenesisOptions {
  chainId?: string;
  /** Keys to use, or how many deterministic dev keys to make. */
  validators: SigningKey[] | number;
  /** Scheme of generated validator and faucet keys (default hybrid). */
  scheme?: Scheme;
  /** Faucet recovery phrase (default DEV_FAUCET_PHRASE); null for no faucet. */
  faucetPhrase?: string | null;
  faucetBalance?: number;
  /** Spendable balance of each validator (for fees). */
  validatorBalance?: number;
  /** Bond of each validator (default params.min_bond). */
  bond?: number;
  accounts?: GenesisAccount[];
  params?: Partial<ChainParams>;
  genesisTime?: number;
  /** Default: every scheme, so tests may sign with fast Ed25519 keys. */
  signatureSchemes?: Scheme[];
}

export interface DevGenesis {
  genesis: Genesis;
  validatorKeys: SigningKey[];
  faucetKey: SigningKey | null;
}

/** A reproducible genesis for tests, the simulator and `self up`. */
export function makeDevGenesis(opts: DevGenesisOptions): DevGenesis {
  const scheme = opts.scheme ?? 'hybrid-ed25519-ml-dsa-65';
  const params: ChainParams = { ...DEFAULT_PARAMS, ...opts.params };
  const validatorKeys =
    typeof opts.validators === 'number'
      ? Array.from({ length: opts.validators }, (_, i) => devValidatorKey(i, scheme))
      : opts.validators;
  const phrase = opts.faucetPhrase === undefined ? DEV_FAUCET_PHRASE : opts.faucetPhrase;
  const faucetKey = phrase === null ? null : accountKeysFromPhrase(phrase, scheme).account;
  const faucet = faucetKey ? addressFromPublicKey(faucetKey.publicKey) : null;
  const validatorBalance = opts.validatorBalance ?? 1_000_000_000;
  const accounts: GenesisAccount[] = [
    ...validatorKeys.map((k) => ({ address: addressFromPublicKey(k.publicKey), balance: validatorBalance })),
    ...(faucet ? [{ address: faucet, balance: opts.faucetBalance ?? 1_000_000_000_000_000 }] : []),
    ...(opts.accounts ?? []),
  ];
  const genesis: Genesis = {
    chain_id: opts.chainId ?? 'self-dev',
    genesis_time: opts.genesisTime ?? DEV_GENESIS_TIME,
    params,
    validators: validatorKeys.map((k) => ({
      address: addressFromPublicKey(k.publicKey),
      public_key: k.publicKey,
      bonded: opts.bond ?? params.min_bond,
    })),
    accounts,
    faucet,
    signature_schemes: opts.signatureSchemes ?? [...SCHEMES],
  };
  validateGenesis(genesis);
  return { genesis, validatorKeys, faucetKey };
}
