import type {
  Block,
  BlockHeader,
  ColourTransition,
  CommitCertificate,
  Proposal,
  SignedProposal,
  SignedVote,
  Vote,
} from '../types.js';
import { LIMITS } from './limits.js';
import { address, bytes, hash32, int, list, nullable, oneOf, record, uint } from './primitives.js';
import { parseChainId } from './transaction.js';

/** Shape of blocks, votes, proposals and certificates (see schema/transaction.ts for transactions). */

export function parseBlockHeader(value: unknown, path = 'header'): BlockHeader {
  const o = record(value, path, [
    'v',
    'chain_id',
    'height',
    'prev_hash',
    'timestamp',
    'state_root',
    'tx_root',
    'colour_root',
    'last_commit_hash',
    'proposer',
    'round',
    'efficiency',
    'point_price',
  ]);
  uint(o.v, `${path}.v`, 1, 1);
  return {
    v: 1,
    chain_id: parseChainId(o.chain_id, `${path}.chain_id`),
    height: uint(o.height, `${path}.height`),
    prev_hash: hash32(o.prev_hash, `${path}.prev_hash`),
    timestamp: uint(o.timestamp, `${path}.timestamp`),
    state_root: hash32(o.state_root, `${path}.state_root`),
    tx_root: hash32(o.tx_root, `${path}.tx_root`),
    colour_root: hash32(o.colour_root, `${path}.colour_root`),
    last_commit_hash: hash32(o.last_commit_hash, `${path}.last_commit_hash`),
    proposer: address(o.proposer, `${path}.proposer`),
    round: uint(o.round, `${path}.round`),
    efficiency: uint(o.efficiency, `${path}.efficiency`),
    point_price: uint(o.point_price, `${path}.point_price`),
  };
}

export function parseColourTransition(value: unknown, path: string): ColourTransition {
  const o = record(value, path, ['address', 'from', 'to', 'tx_hash']);
  return {
    address: address(o.address, `${path}.address`),
    from: uint(o.from, `${path}.from`, 0, LIMITS.maxColour),
    to: uint(o.to, `${path}.to`, 0, LIMITS.maxColour),
    tx_hash: hash32(o.tx_hash, `${path}.tx_hash`),
  };
}

export function parseCommitCertificate(value: unknown, path = 'commit'): CommitCertificate {
  const o = record(value, path, ['height', 'round', 'block_hash', 'votes']);
  return {
    height: uint(o.height, `${path}.height`),
    round: uint(o.round, `${path}.round`),
    block_hash: hash32(o.block_hash, `${path}.block_hash`),
    votes: list(o.votes, `${path}.votes`, LIMITS.maxCertificateVotes, (v, p) =>
      bytes(v, p, { min: 1, max: LIMITS.maxVoteBytes }),
    ),
  };
}

export function parseBlock(value: unknown, path = 'block'): Block {
  const o = record(value, path, ['header', 'txs', 'colours', 'last_commit']);
  return {
    header: parseBlockHeader(o.header, `${path}.header`),
    txs: list(o.txs, `${path}.txs`, LIMITS.maxBlockTxs, (v, p) =>
      bytes(v, p, { min: 1, max: LIMITS.maxTxBytes }),
    ),
    colours: list(o.colours, `${path}.colours`, LIMITS.maxBlockTxs, parseColourTransition),
    last_commit: nullable(o.last_commit, `${path}.last_commit`, parseCommitCertificate),
  };
}

export function parseVote(value: unknown, path = 'vote'): Vote {
  const o = record(value, path, ['v', 'chain_id', 'height', 'round', 'type', 'block_hash', 'ranking']);
  uint(o.v, `${path}.v`, 1, 1);
  return {
    v: 1,
    chain_id: parseChainId(o.chain_id, `${path}.chain_id`),
    height: uint(o.height, `${path}.height`),
    round: uint(o.round, `${path}.round`),
    type: oneOf(o.type, `${path}.type`, ['prevote', 'precommit'] as const),
    block_hash: nullable(o.block_hash, `${path}.block_hash`, hash32),
    ranking: list(o.ranking, `${path}.ranking`, LIMITS.maxRanking, hash32),
  };
}

export function parseSignedVote(value: unknown, path = 'signed_vote'): SignedVote {
  const o = record(value, path, ['vote', 'signer', 'sig']);
  return {
    vote: parseVote(o.vote, `${path}.vote`),
    signer: bytes(o.signer, `${path}.signer`, { min: 1, max: LIMITS.maxPublicKeyBytes }),
    sig: bytes(o.sig, `${path}.sig`, { min: 1, max: LIMITS.maxSignatureBytes }),
  };
}

export function parseProposal(value: unknown, path = 'proposal'): Proposal {
  const o = record(value, path, ['v', 'block', 'pol_round', 'round']);
  uint(o.v, `${path}.v`, 1, 1);
  return {
    v: 1,
    block: parseBlock(o.block, `${path}.block`),
    // -1 marks a fresh block; otherwise the round of the proof-of-lock being re-proposed.
    pol_round: int(o.pol_round, `${path}.pol_round`, -1, Number.MAX_SAFE_INTEGER),
    round: uint(o.round, `${path}.round`),
  };
}

export function parseSignedProposal(value: unknown, path = 'signed_proposal'): SignedProposal {
  const o = record(value, path, ['proposal', 'signer', 'sig']);
  return {
    proposal: parseProposal(o.proposal, `${path}.proposal`),
    signer: bytes(o.signer, `${path}.signer`, { min: 1, max: LIMITS.maxPublicKeyBytes }),
    sig: bytes(o.sig, `${path}.sig`, { min: 1, max: LIMITS.maxSignatureBytes }),
  };
}
