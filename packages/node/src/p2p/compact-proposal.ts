import { decode, encode } from '@self/chain';
import { sha256 } from '@self/crypto';
import { plain, type CompactProposalPayload } from './gossip-codec.js';

interface RawSignedProposal {
  proposal: { block: { txs: unknown } & Record<string, unknown> } & Record<string, unknown>;
  [key: string]: unknown;
}

function asRaw(value: unknown): RawSignedProposal | null {
  const v = value as Partial<RawSignedProposal> | null;
  if (typeof v !== 'object' || v === null) return null;
  const block = (v.proposal as { block?: unknown } | undefined)?.block as { txs?: unknown } | undefined;
  if (typeof block !== 'object' || block === null || !Array.isArray(block.txs)) return null;
  if (!block.txs.every((t) => t instanceof Uint8Array)) return null;
  return v as RawSignedProposal;
}

function withTxs(raw: RawSignedProposal, txs: Uint8Array[]): RawSignedProposal {
  return { ...raw, proposal: { ...raw.proposal, block: { ...raw.proposal.block, txs } } };
}

/**
 * The compact form of an encoded SignedProposal: its transactions replaced by SHA-256 digests of
 * their bytes; also returns the transactions. Null when the bytes are not a proposal with
 * transactions (such a proposal is sent as it is).
 *
 * Exactness: `decode` accepts only canonical CBOR (re-encoding reproduces the input), and putting
 * the same byte strings back re-encodes them identically, so the receiver rebuilds these exact bytes.
 */
export function compactProposal(
  bytes: Uint8Array,
): { compact: CompactProposalPayload; txs: Uint8Array[] } | null {
  let raw: RawSignedProposal | null;
  try {
    raw = asRaw(decode(bytes));
  } catch {
    return null;
  }
  if (!raw) return null;
  const txs = raw.proposal.block.txs as Uint8Array[];
  if (txs.length === 0) return null;
  return {
    compact: {
      t: 'proposal-compact',
      skeleton: plain(encode(withTxs(raw, []))),
      digests: txs.map((t) => sha256(t)),
      digest: sha256(bytes),
    },
    txs,
  };
}

/** Puts the transactions back into a skeleton; the caller checks the result's digest. */
export function rebuildProposal(skeleton: Uint8Array, txs: Uint8Array[]): Uint8Array {
  const raw = asRaw(decode(skeleton));
  if (!raw) throw new TypeError('compact proposal skeleton is not a proposal');
  return plain(encode(withTxs(raw, txs)));
}
