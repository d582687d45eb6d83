import { addressFromPublicKey, didFromAddress, fromHex, toHex } from '@self/crypto';
import {
  decodeSignedTransaction,
  decodeSignedVote,
  txHash,
  type Account,
  type AppRecord,
  type Block,
  type BlockHeader,
  type ColourTransition,
  type CommitCertificate,
  type SignedTransaction,
  type StateProof,
  type ValidatorView,
} from '@self/chain';
import type {
  AccountJson,
  AppJson,
  BlockJson,
  CertificateJson,
  HeaderJson,
  RecordProofJson,
  StateProofJson,
  TxJson,
} from './schemas.js';

/**
 * The one place that turns protocol objects into API JSON (and proofs back): byte strings become
 * lowercase hex, colours 6 hex digits, everything else keeps its protocol field names.
 */

export const hex = (bytes: Uint8Array): string => toHex(bytes);

export const colourHex = (colour: number): string => colour.toString(16).padStart(6, '0');

/** Deep copy with every Uint8Array as hex: for kind-specific bodies whose shape varies. */
export function jsonValue(value: unknown): unknown {
  if (value instanceof Uint8Array) return toHex(value);
  if (Array.isArray(value)) return value.map(jsonValue);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = jsonValue(v);
    return out;
  }
  return value;
}

export function headerJson(h: BlockHeader): HeaderJson {
  return {
    v: h.v,
    chain_id: h.chain_id,
    height: h.height,
    prev_hash: hex(h.prev_hash),
    timestamp: h.timestamp,
    state_root: hex(h.state_root),
    tx_root: hex(h.tx_root),
    colour_root: hex(h.colour_root),
    last_commit_hash: hex(h.last_commit_hash),
    proposer: h.proposer,
    round: h.round,
    efficiency: h.efficiency,
    point_price: h.point_price,
  };
}

/** A signed transaction; `hash` and `stx` are recomputed from `bytes` when not given. */
export function txJson(bytes: Uint8Array, stx?: SignedTransaction, hash?: Uint8Array): TxJson {
  const signed = stx ?? decodeSignedTransaction(bytes);
  const t = signed.tx;
  return {
    hash: hex(hash ?? txHash(signed)),
    from: addressFromPublicKey(signed.signer),
    size: bytes.length,
    tx: {
      v: t.v,
      chain_id: t.chain_id,
      kind: t.kind,
      nonce: t.nonce,
      point_price: t.point_price,
      body: jsonValue(t.body) as Record<string, unknown>,
    },
    signer: hex(signed.signer),
    sig: hex(signed.sig),
  };
}

function colourJson(c: ColourTransition) {
  return { address: c.address, from: colourHex(c.from), to: colourHex(c.to), tx_hash: hex(c.tx_hash) };
}

export function certificateJson(cert: CommitCertificate): CertificateJson {
  return {
    height: cert.height,
    round: cert.round,
    block_hash: hex(cert.block_hash),
    votes: cert.votes.map((bytes) => {
      const sv = decodeSignedVote(bytes);
      const v = sv.vote;
      return {
        validator: addressFromPublicKey(sv.signer),
        vote: {
          v: v.v,
          chain_id: v.chain_id,
          height: v.height,
          round: v.round,
          type: v.type,
          block_hash: v.block_hash ? hex(v.block_hash) : null,
          ranking: v.ranking.map(hex),
        },
        signer: hex(sv.signer),
        sig: hex(sv.sig),
      };
    }),
  };
}

export function blockJson(block: Block, hash: Uint8Array, cert: CommitCertificate | null): BlockJson {
  return {
    hash: hex(hash),
    height: block.header.height,
    header: headerJson(block.header),
    txs: block.txs.map((bytes) => txJson(bytes)),
    colours: block.colours.map(colourJson),
    last_commit: block.last_commit ? certificateJson(block.last_commit) : null,
    certificate: cert ? certificateJson(cert) : null,
  };
}

// ---- proofs -------------------------------------------------------------------------------------

export function stateProofJson(p: StateProof): StateProofJson {
  return {
    depth: p.depth,
    bitmap: hex(p.bitmap),
    siblings: p.siblings.map(hex),
    leaf: p.leaf ? { path: hex(p.leaf.path), value_hash: hex(p.leaf.value_hash) } : null,
  };
}

/** The inverse of stateProofJson, for clients that verify with verifyStateProof. Throws on bad hex. */
export function stateProofFromJson(p: StateProofJson): StateProof {
  return {
    depth: p.depth,
    bitmap: fromHex(p.bitmap),
    siblings: p.siblings.map((s) => fromHex(s)),
    leaf: p.leaf ? { path: fromHex(p.leaf.path), value_hash: fromHex(p.leaf.value_hash) } : null,
  };
}

/** Where a proof is anchored: the latest committed block (or genesis before block 1). */
export interface ProofAnchor {
  stateRoot: Uint8Array;
  height: number;
  blockHash: Uint8Array;
}

export function recordProofJson(
  key: string,
  value: Uint8Array | undefined,
  proof: StateProof,
  at: ProofAnchor,
): RecordProofJson {
  return {
    key,
    value: value ? hex(value) : null,
    state_root: hex(at.stateRoot),
    height: at.height,
    block_hash: hex(at.blockHash),
    proof: stateProofJson(proof),
  };
}

// ---- records ------------------------------------------------------------------------------------

export function accountJson(account: Account, exists: boolean, proof: RecordProofJson): AccountJson {
  return {
    address: account.address,
    exists,
    balance: account.balance,
    nonce: account.nonce,
    colour: colourHex(account.colour),
    bonded: account.bonded,
    unbonding: account.unbonding.map((u) => ({ amount: u.amount, release_height: u.release_height })),
    public_key: account.public_key ? hex(account.public_key) : null,
    proof,
  };
}

export function validatorJson(v: ValidatorView, active: boolean, inCommittee: boolean) {
  return {
    address: v.address,
    public_key: hex(v.public_key),
    bonded: v.bonded,
    reputation: v.reputation,
    jailed_until: v.jailed_until,
    slashed: v.slashed,
    last_signed_height: v.last_signed_height,
    active,
    in_committee: inCommittee,
  };
}

export function appJson(app: AppRecord, proof: RecordProofJson): AppJson {
  return {
    app_id: app.app_id,
    owner: app.owner,
    owner_did: didFromAddress(app.owner),
    name: app.name,
    logo_uri: app.logo_uri,
    redirect_uris: [...app.redirect_uris],
    scopes: [...app.scopes],
    active: app.active,
    created_height: app.created_height,
    updated_height: app.updated_height,
    proof,
  };
}
