import {
  ChainError,
  EncodingError,
  LIMITS,
  decode,
  decodeSignedProposal,
  decodeSignedVote,
  encode,
} from '@self/chain';
import type { RejectReason } from './errors.js';
import type { P2PLimits } from './limits.js';
import type { GossipKind } from './topics.js';

/**
 * What travels on the gossip topics: the engine's WireMessage for txs, votes and status, and for
 * proposals either the full signed proposal or its compact form (transactions named by digest).
 */
export type GossipPayload =
  | { t: 'txs'; data: Uint8Array[] }
  | { t: 'vote'; data: Uint8Array }
  | { t: 'status'; height: number }
  | { t: 'proposal'; data: Uint8Array }
  | CompactProposalPayload;

export interface CompactProposalPayload {
  t: 'proposal-compact';
  /** The encoded SignedProposal with `proposal.block.txs` emptied. */
  skeleton: Uint8Array;
  /** SHA-256 of each transaction's full encoding, in block order. */
  digests: Uint8Array[];
  /** SHA-256 of the full proposal bytes: the receiver's check that it rebuilt them exactly. */
  digest: Uint8Array;
}

export type ParseResult =
  { ok: true; payload: GossipPayload } | { ok: false; reason: RejectReason; detail: string };

export function encodeGossip(payload: GossipPayload): Uint8Array {
  return plain(encode(payload));
}

/** cborg hands back Node Buffers; libp2p and callers deal in plain Uint8Array views. */
export function plain(bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function topicLimit(kind: GossipKind, limits: P2PLimits): number {
  switch (kind) {
    case 'tx':
      return limits.maxTxBatchBytes;
    case 'vote':
      return limits.maxVoteBytes;
    case 'block':
      return limits.maxStatusBytes;
    case 'proposal':
      return limits.maxProposalBytes;
  }
}

class Reject extends Error {
  constructor(
    readonly reason: RejectReason,
    detail: string,
  ) {
    super(detail);
  }
}

/**
 * The cheap structural checks a topic validator makes before a message is delivered or forwarded:
 * size, CBOR shape, the embedded vote or proposal decodes, and its chain id. Signatures, committee
 * membership and block validity are the engine's job.
 */
export function parseGossip(
  kind: GossipKind,
  bytes: Uint8Array,
  ctx: { chainId: string; limits: P2PLimits },
): ParseResult {
  try {
    const limit = topicLimit(kind, ctx.limits);
    if (bytes.length > limit)
      throw new Reject('oversized', `${kind} message of ${bytes.length} bytes, limit ${limit}`);
    let value: unknown;
    try {
      value = decode(bytes, limit);
    } catch (err) {
      if (err instanceof EncodingError && err.reason === 'oversized')
        throw new Reject('oversized', err.message);
      throw new Reject('malformed', (err as Error).message);
    }
    return { ok: true, payload: parseValue(kind, value, ctx) };
  } catch (err) {
    if (err instanceof Reject) return { ok: false, reason: err.reason, detail: err.message };
    throw err;
  }
}

function parseValue(
  kind: GossipKind,
  value: unknown,
  ctx: { chainId: string; limits: P2PLimits },
): GossipPayload {
  const t = isObject(value) ? value.t : undefined;
  switch (kind) {
    case 'tx': {
      const o = record(value, ['t', 'data'], 'txs');
      const data = o.data;
      if (!Array.isArray(data) || data.length === 0 || data.length > ctx.limits.maxTxsPerBatch)
        throw new Reject('malformed', 'txs.data must list 1..maxTxsPerBatch transactions');
      for (const tx of data) {
        if (!(tx instanceof Uint8Array) || tx.length === 0)
          throw new Reject('malformed', 'txs.data holds a non-byte-string');
        if (tx.length > LIMITS.maxTxBytes)
          throw new Reject('oversized', 'a transaction exceeds the protocol limit');
      }
      return { t: 'txs', data: data as Uint8Array[] };
    }
    case 'vote': {
      const o = record(value, ['t', 'data'], 'vote');
      const data = bytesField(o.data, 'vote.data');
      const sv = embedded(() => decodeSignedVote(data));
      if (sv.vote.chain_id !== ctx.chainId)
        throw new Reject('wrong_chain', `vote for chain ${sv.vote.chain_id}`);
      return { t: 'vote', data };
    }
    case 'block': {
      const o = record(value, ['t', 'height'], 'status');
      if (typeof o.height !== 'number' || !Number.isSafeInteger(o.height) || o.height < 0)
        throw new Reject('malformed', 'status.height must be a non-negative integer');
      return { t: 'status', height: o.height };
    }
    case 'proposal': {
      if (t === 'proposal') {
        const o = record(value, ['t', 'data'], 'proposal');
        const data = bytesField(o.data, 'proposal.data');
        const sp = embedded(() => decodeSignedProposal(data, ctx.limits.maxProposalBytes));
        checkChain(sp.proposal.block.header.chain_id, ctx.chainId);
        return { t: 'proposal', data };
      }
      const o = record(value, ['t', 'skeleton', 'digests', 'digest'], 'proposal-compact');
      const skeleton = bytesField(o.skeleton, 'proposal-compact.skeleton');
      const sp = embedded(() => decodeSignedProposal(skeleton, ctx.limits.maxProposalBytes));
      checkChain(sp.proposal.block.header.chain_id, ctx.chainId);
      if (sp.proposal.block.txs.length !== 0)
        throw new Reject('malformed', 'compact proposal skeleton carries txs');
      const digests = o.digests;
      if (!Array.isArray(digests) || digests.length === 0 || digests.length > LIMITS.maxBlockTxs)
        throw new Reject('malformed', 'compact proposal digests must list 1..maxBlockTxs hashes');
      for (const d of digests)
        if (!(d instanceof Uint8Array) || d.length !== 32)
          throw new Reject('malformed', 'compact proposal digest is not 32 bytes');
      const digest = bytesField(o.digest, 'proposal-compact.digest');
      if (digest.length !== 32) throw new Reject('malformed', 'compact proposal digest is not 32 bytes');
      return { t: 'proposal-compact', skeleton, digests: digests as Uint8Array[], digest };
    }
  }
}

function checkChain(chainId: string, expected: string): void {
  if (chainId !== expected) throw new Reject('wrong_chain', `proposal for chain ${chainId}`);
}

/** Decodes an embedded protocol object; its ChainError code becomes the reject reason. */
function embedded<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ChainError)
      throw new Reject(err.code === 'oversized' ? 'oversized' : 'malformed', err.message);
    throw new Reject('malformed', (err as Error).message);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function record(value: unknown, keys: string[], t: string): Record<string, unknown> {
  if (!isObject(value) || value.t !== t) throw new Reject('malformed', `expected a '${t}' message`);
  const actual = Object.keys(value);
  if (actual.length !== keys.length || !keys.every((k) => k in value))
    throw new Reject('malformed', `'${t}' message must have exactly the fields ${keys.join(', ')}`);
  return value;
}

function bytesField(v: unknown, name: string): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length === 0)
    throw new Reject('malformed', `${name} must be a byte string`);
  return v;
}
