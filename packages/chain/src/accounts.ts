import { encodeAddress, sha256, utf8 } from '@self/crypto';
import { decodeTrusted, encode } from './encoding.js';
import { emptyRiskStats } from './poai/index.js';
import { RESERVE_ADDRESS_LABEL, type ChainParams } from './params.js';
import {
  StateKey,
  type Account,
  type AnchorRecord,
  type AppRecord,
  type DidRecord,
  type NodeRecord,
  type ValidatorRecord,
} from './state-types.js';
import type { StateOverlay, StateReader } from './state-view.js';
import type { Address } from './types.js';

/**
 * Typed accessors over the flat state map. Every record is stored as its canonical CBOR, which is
 * what the state root commits to. Records are written only by this module and genesis, so reads
 * trust their shape.
 */

/** Meta keys (under `meta/`). */
export const META = {
  totalSupply: 'total_supply',
  params: 'params',
  /** Sorted addresses of every validator record ever created (the state map cannot be listed). */
  validators: 'validators',
  /** Sorted addresses whose unbonding entries release at that height. */
  unbondingAt: (height: number) => `unbonding/${height}`,
  /** Marks an equivocation already punished: one slash per validator and height. */
  slashedAt: (address: Address, height: number) => `slashed/${address}/${height}`,
} as const;

/**
 * Decoded records by the identity of their encoded bytes. Committed records live in the persistent
 * state tree, so every proposal checked at a height reads the same byte arrays; decoding each once
 * saves most of block execution's CBOR work. Records are deep-frozen: callers copy to change them.
 */
const decoded = new WeakMap<Uint8Array, unknown>();

function read<T>(reader: StateReader, key: string): T | undefined {
  const raw = reader.get(key);
  if (raw === undefined) return undefined;
  let value = decoded.get(raw);
  if (value === undefined) {
    value = deepFreeze(decodeTrusted(raw));
    decoded.set(raw, value);
  }
  return value as T;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function write(overlay: StateOverlay, key: string, value: unknown): void {
  overlay.set(key, encode(value));
}

export function newAccount(address: Address): Account {
  return {
    address,
    balance: 0,
    nonce: 0,
    colour: 0,
    bonded: 0,
    unbonding: [],
    public_key: null,
    risk: emptyRiskStats(),
  };
}

export const findAccount = (reader: StateReader, address: Address): Account | undefined =>
  read<Account>(reader, StateKey.account(address));

/** The account, or a fresh all-zero one when it does not exist yet. */
export const getAccount = (reader: StateReader, address: Address): Account =>
  findAccount(reader, address) ?? newAccount(address);

export const putAccount = (overlay: StateOverlay, account: Account): void =>
  write(overlay, StateKey.account(account.address), account);

// ---- Validators ---------------------------------------------------------------------------------

export const getValidator = (reader: StateReader, address: Address): ValidatorRecord | undefined =>
  read<ValidatorRecord>(reader, StateKey.validator(address));

/** Writes the record and, for a new validator, adds it to the sorted index. */
export function putValidator(overlay: StateOverlay, record: ValidatorRecord): void {
  const index = validatorAddresses(overlay);
  if (!index.includes(record.address)) {
    putMeta(overlay, META.validators, [...index, record.address].sort(compareAscii));
  }
  write(overlay, StateKey.validator(record.address), record);
}

export const validatorAddresses = (reader: StateReader): Address[] =>
  getMeta<Address[]>(reader, META.validators) ?? [];

/** A validator builds and votes only while bonded ≥ min_bond, out of jail and never slashed. */
export function isActiveValidator(
  record: ValidatorRecord,
  bonded: number,
  height: number,
  minBond: number,
): boolean {
  return bonded >= minBond && height >= record.jailed_until && !record.slashed;
}

export interface ValidatorView extends ValidatorRecord {
  bonded: number;
}

/**
 * Validators sorted by address with their bond. With `active`, only those active at that height
 * (the committee candidates); without, every record ever created.
 */
export function listValidators(
  reader: StateReader,
  active?: { height: number; params: Pick<ChainParams, 'min_bond'> },
): ValidatorView[] {
  const out: ValidatorView[] = [];
  for (const address of validatorAddresses(reader)) {
    const record = getValidator(reader, address);
    if (!record) continue;
    const bonded = getAccount(reader, address).bonded;
    if (active && !isActiveValidator(record, bonded, active.height, active.params.min_bond)) continue;
    out.push({ ...record, bonded });
  }
  return out;
}

// ---- DIDs, apps, nodes, anchors -----------------------------------------------------------------

export const getDid = (reader: StateReader, did: string): DidRecord | undefined =>
  read(reader, StateKey.did(did));
export const putDid = (overlay: StateOverlay, record: DidRecord): void =>
  write(overlay, StateKey.did(record.did), record);

export const getApp = (reader: StateReader, appId: string): AppRecord | undefined =>
  read(reader, StateKey.app(appId));
export const putApp = (overlay: StateOverlay, record: AppRecord): void =>
  write(overlay, StateKey.app(record.app_id), record);

export const getNode = (reader: StateReader, did: string, peerId: string): NodeRecord | undefined =>
  read(reader, StateKey.node(did, peerId));
/** Announced nodes (on-chain `node.announce` records), for peer discovery. */
export function listNodes(
  store: { stateWithPrefix(prefix: string, limit: number): Array<[string, Uint8Array]> },
  limit = 1_000,
): NodeRecord[] {
  return store.stateWithPrefix('node/', limit).map(([, value]) => decodeTrusted(value) as NodeRecord);
}
export const putNode = (overlay: StateOverlay, record: NodeRecord): void =>
  write(overlay, StateKey.node(record.did, record.peer_id), record);

export const getAnchor = (
  reader: StateReader,
  did: string,
  kind: string,
  seq: number,
): AnchorRecord | undefined => read(reader, StateKey.anchor(did, kind, seq));
export const putAnchor = (overlay: StateOverlay, record: AnchorRecord): void =>
  write(overlay, StateKey.anchor(record.did, record.kind, record.seq), record);

// ---- Meta ---------------------------------------------------------------------------------------

export const getMeta = <T>(reader: StateReader, name: string): T | undefined =>
  read<T>(reader, StateKey.meta(name));
export const putMeta = (overlay: StateOverlay, name: string, value: unknown): void =>
  write(overlay, StateKey.meta(name), value);
export const deleteMeta = (overlay: StateOverlay, name: string): void => overlay.delete(StateKey.meta(name));

export const getTotalSupply = (reader: StateReader): number => getMeta<number>(reader, META.totalSupply) ?? 0;
export const putTotalSupply = (overlay: StateOverlay, value: number): void =>
  putMeta(overlay, META.totalSupply, value);

export const getChainParams = (reader: StateReader): ChainParams | undefined =>
  getMeta<ChainParams>(reader, META.params);

let reserve: Address | undefined;

/** The reserve's address: first 20 bytes of sha256(utf8(RESERVE_ADDRESS_LABEL)); nobody holds its key. */
export function reserveAddress(): Address {
  reserve ??= encodeAddress(sha256(utf8(RESERVE_ADDRESS_LABEL)).subarray(0, 20));
  return reserve;
}

export const getReserveBalance = (reader: StateReader): number =>
  getAccount(reader, reserveAddress()).balance;

/** Code-unit order; addresses are ASCII, so this is byte order and independent of locale. */
export function compareAscii(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
