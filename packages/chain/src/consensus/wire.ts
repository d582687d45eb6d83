import { randomBytes } from 'node:crypto';
import type { SigningKey } from '@self/crypto';
import {
  decodeBlock as decodeBlockBytes,
  decodeCommitCertificate,
  decodeSignedProposal,
  decodeSignedVote,
  encodeSignedProposal,
  encodeSignedVote,
  headerHash,
  signProposal as signProposalWith,
  signVote as signVoteWith,
  verifyProposalSignature,
  verifyVoteSignature,
} from '../codec.js';
import { decode, encode } from '../encoding.js';
import type { Block, CommitCertificate, Proposal, SignedProposal, SignedVote, Vote } from '../types.js';
import type { ByzantineBehaviour } from './engine.js';

/** The engine's view of the codec: one place to see every encoding consensus relies on. */
export const decodeProposal = (bytes: Uint8Array): SignedProposal => decodeSignedProposal(bytes);
export const encodeProposal = (sp: SignedProposal): Uint8Array => encodeSignedProposal(sp);
export const signProposal = (p: Proposal, key: SigningKey): SignedProposal => signProposalWith(p, key);
export const verifyProposal = (sp: SignedProposal): boolean => verifyProposalSignature(sp);
export const decodeVote = (bytes: Uint8Array): SignedVote => decodeSignedVote(bytes);
export const encodeVote = (sv: SignedVote): Uint8Array => encodeSignedVote(sv);
export const signVote = (v: Vote, key: SigningKey): SignedVote => signVoteWith(v, key);
export const verifyVote = (sv: SignedVote): boolean => verifyVoteSignature(sv);
export const decodeBlock = (bytes: Uint8Array): Block => decodeBlockBytes(bytes);
export const decodeCert = (bytes: Uint8Array): CommitCertificate => decodeCommitCertificate(bytes);
export const blockHash = (block: Block): Uint8Array => headerHash(block.header);

/** What a validator persists to avoid double-signing after a restart. */
export interface PrivState {
  height: number;
  round: number;
  locked: { hashHex: string; round: number } | null;
  valid: { hashHex: string; round: number } | null;
  signed: Array<[string, Uint8Array[]]>;
}

export function encodePrivState(s: PrivState): Uint8Array {
  return encode({
    height: s.height,
    round: s.round,
    locked: s.locked ? [s.locked.hashHex, s.locked.round] : null,
    valid: s.valid ? [s.valid.hashHex, s.valid.round] : null,
    signed: s.signed,
  });
}

export function decodePrivState(bytes: Uint8Array): PrivState | null {
  try {
    const raw = decode(bytes) as {
      height: number;
      round: number;
      locked: [string, number] | null;
      valid: [string, number] | null;
      signed: Array<[string, Uint8Array[]]>;
    };
    return {
      height: raw.height,
      round: raw.round,
      locked: raw.locked ? { hashHex: raw.locked[0], round: raw.locked[1] } : null,
      valid: raw.valid ? { hashHex: raw.valid[0], round: raw.valid[1] } : null,
      signed: raw.signed,
    };
  } catch {
    return null;
  }
}

/** Fault injection for Byzantine simulator validators: a wrong efficiency claim or state root. */
export function tamperBlock(
  built: { block: Block; hash: Uint8Array },
  byzantine: ByzantineBehaviour | undefined,
): { block: Block; hash: Uint8Array } {
  if (!byzantine?.inflateEfficiency && !byzantine?.invalidStateRoot) return built;
  const header = { ...built.block.header };
  if (byzantine.inflateEfficiency) header.efficiency += 10_000;
  if (byzantine.invalidStateRoot) {
    const root = new Uint8Array(header.state_root);
    root[0] = root[0]! ^ 0xff;
    header.state_root = root;
  }
  const block = { ...built.block, header };
  return { block, hash: headerHash(header) };
}

export function garbage(length: number): Uint8Array {
  return new Uint8Array(randomBytes(Math.max(1, Math.min(length, 4096))));
}
