/**
 * SELF Chain protocol types. Every field here is consensus-critical: its CBOR encoding is hashed
 * and signed. Integers are JS numbers constrained to safe integers (see docs/decisions.md);
 * byte strings are Uint8Array; addresses are `self1…` strings.
 */

export type Address = string;
export type Bytes = Uint8Array;

export const TX_KINDS = [
  'transfer',
  'did.create',
  'did.update',
  'did.deactivate',
  'node.announce',
  'app.register',
  'app.update',
  'anchor',
  'bond',
  'unbond',
  'evidence',
] as const;
export type TxKind = (typeof TX_KINDS)[number];

export interface ServiceEndpoint {
  id: string;
  type: string;
  endpoint: string;
}

/** A key delegated by the DID controller, e.g. an instance key. It may sign anchors and node records, never move funds. */
export interface DelegateKey {
  id: string;
  /** Encoded public key (scheme byte first). */
  public_key: Bytes;
  /** Subset of DELEGATE_PURPOSES. */
  purposes: string[];
}
export const DELEGATE_PURPOSES = ['anchor', 'node.announce'] as const;

/** The on-chain part of a DID document; the W3C rendering is derived from it. */
export interface DidDocumentData {
  /** Identity root key: hybrid SLH-DSA-SHA2-128s + Ed25519 (rotation and recovery). */
  root_key: Bytes;
  /** Encryption key: hybrid X25519 + ML-KEM-768. */
  encryption_key: Bytes;
  delegates: DelegateKey[];
  services: ServiceEndpoint[];
}

export const ANCHOR_KINDS = ['consent', 'revocation', 'audit'] as const;
export type AnchorKind = (typeof ANCHOR_KINDS)[number];

export interface TxBodies {
  transfer: { to: Address; amount: number };
  'did.create': { document: DidDocumentData };
  /** Replaces the document; the DID's version increments. */
  'did.update': { document: DidDocumentData };
  'did.deactivate': Record<string, never>;
  'node.announce': { did: string; peer_id: string; multiaddrs: string[]; roles: string[]; version: string };
  /** `logo_uri`: '' for none, else an https URL (or http on a loopback host) of the app's logo. */
  'app.register': {
    app_id: string;
    name: string;
    logo_uri: string;
    redirect_uris: string[];
    scopes: string[];
  };
  'app.update': {
    app_id: string;
    name: string;
    logo_uri: string;
    redirect_uris: string[];
    scopes: string[];
    active: boolean;
  };
  /** A commitment (Merkle root) of consent grants, revocations or an audit segment. */
  anchor: { did: string; kind: AnchorKind; seq: number; root: Bytes; count: number };
  bond: { amount: number };
  unbond: { amount: number };
  /** Two conflicting signed votes (encoded SignedVote) by one validator at one height, round and type. */
  evidence: { vote_a: Bytes; vote_b: Bytes };
}

export interface Transaction<K extends TxKind = TxKind> {
  v: 1;
  chain_id: string;
  kind: K;
  /** Previous nonce + 1; an account's first transaction has nonce 1. */
  nonce: number;
  /** Price per point, in base units of the native token; > 0. */
  point_price: number;
  body: TxBodies[K];
}

/** `from` is the address of `signer`; it is derived, never sent. */
export interface SignedTransaction<K extends TxKind = TxKind> {
  tx: Transaction<K>;
  /** Encoded public key of the sender (or of a delegate, for `anchor` / `node.announce`). */
  signer: Bytes;
  sig: Bytes;
}

export interface BlockHeader {
  v: 1;
  chain_id: string;
  height: number;
  prev_hash: Bytes;
  /** Milliseconds since the Unix epoch; strictly greater than the parent's. */
  timestamp: number;
  state_root: Bytes;
  tx_root: Bytes;
  /** Commitment to the colour transitions the block causes (see ColourTransition). */
  colour_root: Bytes;
  /** Commitment to `last_commit` (the certificate of the parent), which pays its voters. */
  last_commit_hash: Bytes;
  proposer: Address;
  round: number;
  /** Fixed-point efficiency score of the block's transaction set (docs/protocol/poai.md). */
  efficiency: number;
  /** The block's point price: the median point price of its transactions (0 when empty). */
  point_price: number;
}

/** A colour marker change: `to = (from + hexTx) mod 0x1000000`. */
export interface ColourTransition {
  address: Address;
  from: number;
  to: number;
  tx_hash: Bytes;
}

export interface Block {
  header: BlockHeader;
  /** Encoded SignedTransaction, in block order. */
  txs: Bytes[];
  colours: ColourTransition[];
  /** Certificate of the parent block (null at height 1). */
  last_commit: CommitCertificate | null;
}

export type VoteType = 'prevote' | 'precommit';

export interface Vote {
  v: 1;
  chain_id: string;
  height: number;
  round: number;
  type: VoteType;
  /** Block hash voted for, or null for nil. */
  block_hash: Bytes | null;
  /** Prevotes rank every valid proposal seen, most efficient first; precommits leave it empty. */
  ranking: Bytes[];
}

export interface SignedVote {
  vote: Vote;
  signer: Bytes;
  sig: Bytes;
}

export interface Proposal {
  v: 1;
  block: Block;
  /** Round of a proof-of-lock for this block (a re-proposal), or -1 for a fresh block. */
  pol_round: number;
  /** Round in which this proposal is made (may exceed block.header.round for re-proposals). */
  round: number;
}

export interface SignedProposal {
  proposal: Proposal;
  signer: Bytes;
  sig: Bytes;
}

/** More than two thirds of the committee's precommits for one block at one height and round. */
export interface CommitCertificate {
  height: number;
  round: number;
  block_hash: Bytes;
  /** Encoded SignedVote (precommits), sorted by signer address. */
  votes: Bytes[];
}

/** Hash domain prefixes: SHA-256(prefix || 0x00 || canonical CBOR). */
export const DOMAIN = {
  transaction: 'self-chain-transaction-v1',
  blockHeader: 'self-chain-block-header-v1',
  proposal: 'self-chain-proposal-v1',
  vote: 'self-chain-vote-v1',
  txRoot: 'self-chain-tx-root-v1',
  colourRoot: 'self-chain-colour-root-v1',
  colour: 'self-chain-colour-v1',
  commit: 'self-chain-commit-v1',
  stateLeaf: 'self-chain-state-leaf-v1',
  stateNode: 'self-chain-state-node-v1',
  sortition: 'self-chain-sortition-v1',
  appId: 'self-chain-app-id-v1',
} as const;
