import { addressFromPublicKey, taggedHash, verifySignature, type SigningKey } from '@self/crypto';
import { EncodingError, decode, encode, hashValue } from './encoding.js';
import { ChainError, chainErrorFromEncoding } from './errors.js';
import {
  LIMITS,
  parseBlock,
  parseBlockHeader,
  parseCommitCertificate,
  parseProposal,
  parseSignedProposal,
  parseSignedTransaction,
  parseSignedVote,
  parseVote,
} from './schema/index.js';
import {
  DOMAIN,
  type Address,
  type Block,
  type BlockHeader,
  type CommitCertificate,
  type Proposal,
  type SignedProposal,
  type SignedTransaction,
  type SignedVote,
  type Transaction,
  type TxKind,
  type Vote,
} from './types.js';

/**
 * Wire codecs, hashes and signatures of protocol objects. Decoders accept only the canonical CBOR
 * of a well-shaped object, so decode(encode(x)) is x and encode(decode(b)) is b, byte for byte.
 * Encoders do not re-check shapes: they encode what the caller built; peers' decoders judge it.
 */

function encodeObject(value: unknown, what: string): Uint8Array {
  try {
    const out = encode(value);
    // cborg hands back a Node Buffer; callers and decoders deal in plain Uint8Array views.
    return Object.getPrototypeOf(out) === Uint8Array.prototype
      ? out
      : new Uint8Array(out.buffer, out.byteOffset, out.length);
  } catch (err) {
    if (err instanceof EncodingError) throw chainErrorFromEncoding(err, what);
    throw err;
  }
}

function decodeObject<T>(bytes: Uint8Array, what: string, maxBytes: number, parse: (v: unknown) => T): T {
  if (bytes.length > maxBytes) {
    throw new ChainError('oversized', `${what} is ${bytes.length} bytes, limit ${maxBytes}`, {
      bytes: bytes.length,
      limit: maxBytes,
    });
  }
  let value: unknown;
  try {
    value = decode(bytes, maxBytes);
  } catch (err) {
    if (err instanceof EncodingError) throw chainErrorFromEncoding(err, what);
    throw err;
  }
  return parse(value);
}

export const encodeSignedTransaction = (stx: SignedTransaction): Uint8Array =>
  encodeObject(stx, 'transaction');
export const decodeSignedTransaction = (
  bytes: Uint8Array,
  maxBytes: number = LIMITS.maxTxBytes,
): SignedTransaction => decodeObject(bytes, 'transaction', maxBytes, (v) => parseSignedTransaction(v));

export const encodeBlockHeader = (h: BlockHeader): Uint8Array => encodeObject(h, 'block header');
export const decodeBlockHeader = (bytes: Uint8Array): BlockHeader =>
  decodeObject(bytes, 'block header', 4096, (v) => parseBlockHeader(v));

export const encodeBlock = (b: Block): Uint8Array => encodeObject(b, 'block');
export const decodeBlock = (bytes: Uint8Array, maxBytes: number = LIMITS.maxBlockBytes): Block =>
  decodeObject(bytes, 'block', maxBytes, (v) => parseBlock(v));

export const encodeVote = (v: Vote): Uint8Array => encodeObject(v, 'vote');
export const decodeVote = (bytes: Uint8Array): Vote =>
  decodeObject(bytes, 'vote', LIMITS.maxVoteBytes, (v) => parseVote(v));

export const encodeSignedVote = (sv: SignedVote): Uint8Array => encodeObject(sv, 'signed vote');
export const decodeSignedVote = (bytes: Uint8Array): SignedVote =>
  decodeObject(bytes, 'signed vote', LIMITS.maxVoteBytes, (v) => parseSignedVote(v));

export const encodeProposal = (p: Proposal): Uint8Array => encodeObject(p, 'proposal');
export const decodeProposal = (bytes: Uint8Array, maxBytes: number = LIMITS.maxBlockBytes): Proposal =>
  decodeObject(bytes, 'proposal', maxBytes, (v) => parseProposal(v));

export const encodeSignedProposal = (sp: SignedProposal): Uint8Array => encodeObject(sp, 'signed proposal');
/**
 * Signed proposals already decoded, by the identity of their bytes: a node hands the same received
 * byte array to pre-verification and then to consensus, and a proposal is ~100 KB per thousand
 * transactions to decode, canonically re-encode and parse. Received bytes are never mutated.
 */
const decodedProposals = new WeakMap<Uint8Array, SignedProposal>();

export const decodeSignedProposal = (
  bytes: Uint8Array,
  maxBytes: number = LIMITS.maxBlockBytes,
): SignedProposal => {
  const hit = decodedProposals.get(bytes);
  if (hit && bytes.length <= maxBytes) return hit;
  const sp = decodeObject(bytes, 'signed proposal', maxBytes, (v) => parseSignedProposal(v));
  decodedProposals.set(bytes, sp);
  return sp;
};

export const encodeCommitCertificate = (c: CommitCertificate): Uint8Array =>
  encodeObject(c, 'commit certificate');
export const decodeCommitCertificate = (bytes: Uint8Array): CommitCertificate =>
  decodeObject(bytes, 'commit certificate', LIMITS.maxCertificateVotes * LIMITS.maxVoteBytes, (v) =>
    parseCommitCertificate(v),
  );

// ---- Hashes -------------------------------------------------------------------------------------

/**
 * hashValue(DOMAIN.transaction, {tx, signer}): the unsigned transaction together with the key that
 * signs it; the signature signs exactly these 32 bytes and is not covered (so the hash is not
 * malleable). The signer is included because a transaction names no sender: without it, identical
 * bodies from two accounts (same nonce, price and body) would share one hash.
 */
export const txHash = (stx: Pick<SignedTransaction, 'tx' | 'signer'>): Uint8Array =>
  hashValue(DOMAIN.transaction, { tx: stx.tx, signer: stx.signer });

/** The block hash is the header hash; the body is bound through tx_root and colour_root. */
export const headerHash = (header: BlockHeader): Uint8Array => hashValue(DOMAIN.blockHeader, header);
export const blockHash = (block: Block): Uint8Array => headerHash(block.header);

export const voteSignBytes = (vote: Vote): Uint8Array => hashValue(DOMAIN.vote, vote);

/**
 * A proposal signature covers the header hash, not the body: verifying a proposal costs one hash
 * of a small map, and the header already commits to the body.
 */
export const proposalSignBytes = (p: Proposal): Uint8Array =>
  hashValue(DOMAIN.proposal, {
    v: p.v,
    round: p.round,
    pol_round: p.pol_round,
    block_hash: headerHash(p.block.header),
  });

/** hashValue(DOMAIN.commit, cert), or 32 zero bytes when there is none (height 1). */
export const commitHash = (cert: CommitCertificate | null): Uint8Array =>
  cert === null ? new Uint8Array(32) : hashValue(DOMAIN.commit, cert);

const LEAF = new Uint8Array([0]);
const NODE = new Uint8Array([1]);

/**
 * Binary Merkle root over transaction hashes in block order:
 * leaf = taggedHash(txRoot, 0x00 ‖ txHash); node = taggedHash(txRoot, 0x01 ‖ left ‖ right).
 * An odd node at the end of a level moves up unchanged (it is never paired with itself, which
 * would let two different lists share a root). Empty list: taggedHash(txRoot) over no data.
 */
export function txRoot(txHashes: readonly Uint8Array[]): Uint8Array {
  if (txHashes.length === 0) return taggedHash(DOMAIN.txRoot);
  let level = txHashes.map((h) => taggedHash(DOMAIN.txRoot, LEAF, h));
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i + 1 < level.length; i += 2)
      next.push(taggedHash(DOMAIN.txRoot, NODE, level[i]!, level[i + 1]!));
    if (level.length % 2 === 1) next.push(level[level.length - 1]!);
    level = next;
  }
  return level[0]!;
}

// ---- Signatures ---------------------------------------------------------------------------------

/** The account a transaction is from: the address of its signer's key. */
export const senderOf = (stx: SignedTransaction): Address => addressFromPublicKey(stx.signer);

export function signTransaction<K extends TxKind>(tx: Transaction<K>, key: SigningKey): SignedTransaction<K> {
  return { tx, signer: key.publicKey, sig: key.sign(txHash({ tx, signer: key.publicKey })) };
}

export function signVote(vote: Vote, key: SigningKey): SignedVote {
  return { vote, signer: key.publicKey, sig: key.sign(voteSignBytes(vote)) };
}

export function signProposal(proposal: Proposal, key: SigningKey): SignedProposal {
  return { proposal, signer: key.publicKey, sig: key.sign(proposalSignBytes(proposal)) };
}

/** Malformed keys or signatures verify as false; they never throw. */
export const verifyTransactionSignature = (stx: SignedTransaction, hash: Uint8Array = txHash(stx)): boolean =>
  verifySignature(stx.signer, hash, stx.sig);

export const verifyVoteSignature = (sv: SignedVote): boolean =>
  verifySignature(sv.signer, voteSignBytes(sv.vote), sv.sig);

export const verifyProposalSignature = (sp: SignedProposal): boolean =>
  verifySignature(sp.signer, proposalSignBytes(sp.proposal), sp.sig);

/** Throws ChainError('bad_signature') unless the transaction's signature verifies. */
export function assertTransactionSignature(stx: SignedTransaction, hash?: Uint8Array): void {
  if (!verifyTransactionSignature(stx, hash))
    throw new ChainError('bad_signature', 'transaction signature does not verify');
}
