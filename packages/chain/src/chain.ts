import { addressFromPublicKey, equalBytes, sha256, toHex } from '@self/crypto';
import { executeBlock, readCommittee, type DecodedTx, type ExecResult } from './block-exec.js';
import { ExecMemo } from './exec-memo.js';
import type { BlockCheck, ChainPort, Committee, ReferenceCandidate } from './consensus/chain-port.js';
import { ChainError } from './errors.js';
import { StateTree } from './merkle.js';
import type { Genesis } from './params.js';
import {
  RISK_MAX_BPS,
  checkColourTransitions,
  colourRoot,
  drawCommittee,
  quorum,
  selectReference,
  txRisk,
} from './poai/index.js';
import { ChainStore } from './store.js';
import { VerifiedCache } from './verified-cache.js';
import type { Address, Block, CommitCertificate, SignedTransaction, SignedVote } from './types.js';
import { getAccount, listValidators } from './accounts.js';
import {
  commitHash,
  decodeBlock,
  decodeCommitCertificate as decodeCertificate,
  decodeSignedTransaction,
  decodeSignedVote,
  encodeBlock,
  encodeCommitCertificate as encodeCertificate,
  headerHash,
  txHash,
  txRoot,
  verifyVoteSignature as verifyVote,
} from './codec.js';
import { genesisChanges, genesisHash, validateGenesis } from './genesis.js';
import { Mempool, type MempoolOptions } from './mempool.js';
import { checkStateless } from './tx/index.js';

export interface ChainOptions {
  genesis: Genesis;
  /** SQLite file, or ':memory:'. */
  path: string;
  mempool?: Partial<MempoolOptions>;
  /** How far ahead of local time a block timestamp may be. */
  maxClockDriftMs?: number;
  now?: () => number;
  /** Shared by nodes of this chain in one process (see VerifiedCache); default: a private one. */
  verifiedCache?: VerifiedCache;
  /** SQLite durability; FULL (the default) survives power loss, NORMAL survives a process crash. */
  store?: { synchronous?: 'FULL' | 'NORMAL' };
}

interface Pending {
  block: Block;
  hash: Uint8Array;
  check: BlockCheck;
  exec?: ExecResult;
  tree?: StateTree;
}

const DECODED_CACHE_LIMIT = 50_000;
/** Build-time failures that a later block may not hit (an earlier nonce lands, funds arrive). */
const RETRYABLE_CODES = new Set(['bad_nonce', 'nonce_too_high', 'insufficient_funds']);

/**
 * One node's view of SELF Chain: the committed blocks and state (SQLite), the Merkle state tree,
 * the mempool, and the rules to build, check and commit the next block. Implements ChainPort, the
 * consensus engine's view of the chain.
 */
export class Chain implements ChainPort {
  readonly chainId: string;
  readonly genesisTime: number;
  readonly genesis: Genesis;
  readonly store: ChainStore;
  readonly mempool: Mempool;
  private tree: StateTree;
  private tip: { height: number; hash: Uint8Array; timestamp: number };
  private committeeCache: Committee | null = null;
  private pending = new Map<string, Pending>();
  /** Transaction executions of the next height, shared by every block built or checked for it. */
  readonly execMemo = new ExecMemo();
  /** bodyBinds verdicts by block object (decoded blocks are shared, never mutated). */
  private readonly bindingBodies = new WeakMap<Block, boolean>();
  /** Digests of signed transactions and votes (signature included) already verified. */
  private readonly verified: VerifiedCache;
  /** Decoded transactions by the digest of their signed bytes: proposals repeat the mempool's. */
  private decodedTxs = new Map<string, { stx: SignedTransaction; hash: Uint8Array }>();
  private decodedVotes = new Map<string, SignedVote>();
  private readonly maxDrift: number;
  private readonly now: () => number;

  private constructor(opts: ChainOptions, store: ChainStore) {
    this.genesis = opts.genesis;
    this.chainId = opts.genesis.chain_id;
    this.genesisTime = opts.genesis.genesis_time;
    this.store = store;
    this.maxDrift = opts.maxClockDriftMs ?? 10_000;
    this.now = opts.now ?? Date.now;
    this.verified = opts.verifiedCache ?? new VerifiedCache();
    this.mempool = new Mempool({ now: this.now, ...opts.mempool });
    this.tree = StateTree.fromEntries(store.stateEntries());
    const latest = store.latestHeight();
    if (latest === 0) {
      this.tip = { height: 0, hash: genesisHash(opts.genesis), timestamp: opts.genesis.genesis_time };
    } else {
      const stored = store.blockByHeight(latest)!;
      const block = decodeBlock(stored.block);
      this.tip = { height: latest, hash: stored.hash, timestamp: block.header.timestamp };
    }
  }

  static open(opts: ChainOptions): Chain {
    validateGenesis(opts.genesis);
    const store = ChainStore.open(opts.path, opts.store ?? {});
    const hash = genesisHash(opts.genesis);
    store.initGenesis({
      chainId: opts.genesis.chain_id,
      genesisHash: hash,
      changes: genesisChanges(opts.genesis),
    });
    return new Chain(opts, store);
  }

  close(): void {
    this.store.close();
  }

  // ---------------------------------------------------------------- ChainPort

  latestHeight(): number {
    return this.tip.height;
  }

  latestHash(): Uint8Array {
    return this.tip.hash;
  }

  latestTimestamp(): number {
    return this.tip.timestamp;
  }

  stateRoot(): Uint8Array {
    return this.tree.root();
  }

  stateTree(): StateTree {
    return this.tree;
  }

  nextCommittee(): Committee {
    if (this.committeeCache && this.committeeCache.height === this.tip.height + 1) return this.committeeCache;
    const validators = listValidators(this.tree, {
      height: this.tip.height + 1,
      params: this.genesis.params,
    });
    const drawn = drawCommittee({
      validators: validators.map((v) => ({ address: v.address, bonded: v.bonded, reputation: v.reputation })),
      prevHash: this.tip.hash,
      height: this.tip.height + 1,
      size: this.genesis.params.committee_size,
    });
    const keys = new Map(validators.map((v) => [v.address, v.public_key]));
    const members = drawn.map((address) => ({ address, publicKey: keys.get(address)! }));
    this.committeeCache = { height: this.tip.height + 1, members, quorum: quorum(members.length) };
    return this.committeeCache;
  }

  isBuilder(address: Address): boolean {
    return this.nextCommittee().members.some((m) => m.address === address);
  }

  buildBlock(opts: {
    proposer: Address;
    round: number;
    timestamp: number;
    lastCommit: CommitCertificate | null;
  }): { block: Block; hash: Uint8Array } {
    const height = this.tip.height + 1;
    const params = this.genesis.params;
    const pool = this.mempool.pendingExecutable(this.tree, params.max_block_txs * 4);
    const decoded: DecodedTx[] = pool.map((e) => ({ stx: e.stx, bytes: e.bytes, hash: e.hash }));
    const ordered = this.selectForBlock(decoded, height);
    const committee = this.nextCommittee();
    const exec = executeBlock(
      this.tree,
      {
        height,
        proposer: opts.proposer,
        committee: committee.members,
        lastCommitSigners: opts.lastCommit ? this.certSigners(opts.lastCommit) : null,
        txs: ordered,
      },
      { chainId: this.chainId, params },
      'build',
      { maxTxs: params.max_block_txs, maxBytes: params.max_block_bytes },
      this.execMemo,
    );
    // A transaction that fails for a reason time cannot fix would fail in every block: drop it.
    for (const { tx, code } of exec.failed) if (!RETRYABLE_CODES.has(code)) this.mempool.remove(tx.hash);
    const tree = this.tree.withChanges(exec.overlay.changes());
    const block: Block = {
      header: {
        v: 1,
        chain_id: this.chainId,
        height,
        prev_hash: this.tip.hash,
        timestamp: opts.timestamp,
        state_root: tree.root(),
        tx_root: txRoot(exec.included.map((t) => t.hash)),
        colour_root: colourRoot(exec.colours),
        last_commit_hash: commitHash(opts.lastCommit),
        proposer: opts.proposer,
        round: opts.round,
        efficiency: exec.efficiency,
        point_price: exec.pointPrice,
      },
      txs: exec.included.map((t) => t.bytes),
      colours: exec.colours,
      last_commit: opts.lastCommit,
    };
    const hash = headerHash(block.header);
    const check: BlockCheck = {
      ok: true,
      hash,
      efficiency: exec.efficiency,
      candidates: exec.candidates,
    };
    this.pending.set(toHex(hash), { block, hash, check, exec, tree });
    return { block, hash };
  }

  /** Orders mempool candidates: the 20/20/50/10 selection when they exceed a block, then block order. */
  private selectForBlock(txs: DecodedTx[], height: number): DecodedTx[] {
    const params = this.genesis.params;
    const byHash = new Map(txs.map((t) => [toHex(t.hash), t]));
    const candidates = txs.map((t) => this.candidateOf(t, height));
    const selected = selectReference(candidates, {
      max_txs: params.max_block_txs,
      max_bytes: params.max_block_bytes,
    });
    return selected.map((c) => byHash.get(toHex(c.hash))!);
  }

  private candidateOf(t: DecodedTx, height: number): ReferenceCandidate {
    const sender = addressFromPublicKey(t.stx.signer);
    const account = getAccount(this.tree, sender);
    const tx = t.stx.tx;
    const to = tx.kind === 'transfer' ? (tx.body as { to: Address }).to : null;
    return {
      hash: t.hash,
      sender,
      nonce: tx.nonce,
      point_price: tx.point_price,
      sender_last_height: account.risk.last_height,
      risk: txRisk({
        kind: tx.kind,
        amount: tx.kind === 'transfer' ? (tx.body as { amount: number }).amount : 0,
        nonce: tx.nonce,
        height,
        stats: account.risk,
        recipient: to ? getAccount(this.tree, to).risk : null,
        sender,
      }),
      bytes: t.bytes.length,
    };
  }

  /**
   * True when the body is the one the header commits to (tx_root, colour_root, last_commit_hash).
   * Then the header hash identifies the whole block, and a check can be cached by it.
   */
  bodyBinds(block: Block): boolean {
    const known = this.bindingBodies.get(block);
    if (known !== undefined) return known;
    const binds = this.computeBodyBinds(block);
    this.bindingBodies.set(block, binds);
    return binds;
  }

  private computeBodyBinds(block: Block): boolean {
    const h = block.header;
    let hashes: Uint8Array[];
    try {
      hashes = block.txs.map((bytes) => this.decodeTx(bytes).hash);
    } catch {
      return false;
    }
    return (
      equalBytes(txRoot(hashes), h.tx_root) &&
      equalBytes(colourRoot(block.colours), h.colour_root) &&
      equalBytes(commitHash(block.last_commit), h.last_commit_hash)
    );
  }

  checkBlock(block: Block, now: number): BlockCheck {
    const hash = headerHash(block.header);
    const cached = this.pending.get(toHex(hash));
    // Transaction hashes leave signatures out, so two bodies can share a header yet differ in a
    // signature: only a byte-identical body may reuse a cached verdict.
    if (cached && (cached.block === block || sameBody(cached.block, block))) return cached.check;
    let check: BlockCheck;
    let exec: ExecResult | undefined;
    let tree: StateTree | undefined;
    try {
      ({ exec, tree } = this.validate(block, now));
      check = {
        ok: true,
        hash,
        efficiency: exec.efficiency,
        candidates: exec.candidates,
      };
    } catch (err) {
      if (!(err instanceof ChainError)) throw err;
      check = { ok: false, hash, error: err };
    }
    // Keep the first verdict for a header unless a later body is the valid one.
    if (!cached || (!cached.check.ok && check.ok)) {
      this.pending.set(toHex(hash), {
        block,
        hash,
        check,
        ...(exec ? { exec } : {}),
        ...(tree ? { tree } : {}),
      });
    }
    return check;
  }

  private validate(block: Block, now: number): { exec: ExecResult; tree: StateTree } {
    const h = block.header;
    const params = this.genesis.params;
    const fail = (code: ConstructorParameters<typeof ChainError>[0], message: string): never => {
      throw new ChainError(code, message);
    };
    if (h.chain_id !== this.chainId) fail('wrong_chain', `block for chain ${h.chain_id}`);
    if (h.height !== this.tip.height + 1)
      fail('invalid_block', `expected height ${this.tip.height + 1}, got ${h.height}`);
    if (!equalBytes(h.prev_hash, this.tip.hash)) fail('invalid_block', 'prev_hash is not the latest block');
    if (h.timestamp <= this.tip.timestamp) fail('invalid_block', 'timestamp not after the parent');
    if (h.timestamp > now + this.maxDrift) fail('invalid_block', 'timestamp too far in the future');
    if (!this.isBuilder(h.proposer)) fail('not_validator', 'proposer is not an active builder');
    if (block.txs.length > params.max_block_txs) fail('oversized', 'too many transactions');
    const size = block.txs.reduce((n, t) => n + t.length, 0);
    if (size > params.max_block_bytes)
      fail('oversized', `transactions total ${size} bytes, limit ${params.max_block_bytes}`);
    if (!equalBytes(h.last_commit_hash, commitHash(block.last_commit)))
      fail('invalid_block', 'last_commit_hash mismatch');
    let signers: Address[] | null = null;
    if (h.height === 1) {
      if (block.last_commit !== null) fail('invalid_block', 'block 1 has no parent certificate');
    } else {
      if (!block.last_commit) fail('invalid_block', 'missing parent certificate');
      const cert = block.last_commit!;
      if (cert.height !== this.tip.height || !equalBytes(cert.block_hash, this.tip.hash)) {
        fail('invalid_certificate', 'parent certificate is for another block');
      }
      const prevCommittee = readCommittee(this.tree);
      if (!prevCommittee) fail('invalid_certificate', 'no committee recorded for the parent');
      const err = this.verifyCertificate(cert, {
        height: this.tip.height,
        members: prevCommittee!,
        quorum: quorum(prevCommittee!.length),
      });
      if (err) throw err;
      signers = this.certSigners(cert);
    }
    const txs: DecodedTx[] = block.txs.map((bytes) => {
      const { stx, hash, digest } = this.decodeTx(bytes);
      this.verifyOnce(stx, bytes, hash, digest);
      return { stx, bytes, hash };
    });
    const seen = new Set<string>();
    for (const t of txs) {
      const k = toHex(t.hash);
      if (seen.has(k)) fail('duplicate', 'transaction included twice');
      seen.add(k);
    }
    const exec = executeBlock(
      this.tree,
      {
        height: h.height,
        proposer: h.proposer,
        committee: this.nextCommittee().members,
        lastCommitSigners: signers,
        txs,
      },
      { chainId: this.chainId, params },
      'check',
      undefined,
      this.execMemo,
    );
    const mismatch = checkColourTransitions(exec.colours, block.colours);
    if (mismatch) fail('invalid_colour', `colour transition ${mismatch.index}: ${mismatch.reason}`);
    // A body already found to bind to its header (bodyBinds) has both roots right.
    if (this.bindingBodies.get(block) !== true) {
      if (!equalBytes(h.colour_root, colourRoot(block.colours)))
        fail('invalid_colour', 'colour_root mismatch');
      if (!equalBytes(h.tx_root, txRoot(txs.map((t) => t.hash)))) fail('invalid_block', 'tx_root mismatch');
    }
    if (h.efficiency !== exec.efficiency) {
      fail('invalid_efficiency', `claimed efficiency ${h.efficiency}, computed ${exec.efficiency}`);
    }
    if (h.point_price !== exec.pointPrice) fail('invalid_block', 'point_price is not the median');
    const tree = this.tree.withChanges(exec.overlay.changes());
    if (!equalBytes(h.state_root, tree.root())) fail('invalid_state_root', 'state root mismatch');
    return { exec, tree };
  }

  referenceEfficiency(candidates: ReferenceCandidate[]): number {
    const params = this.genesis.params;
    const selected = selectReference(candidates, {
      max_txs: params.max_block_txs,
      max_bytes: params.max_block_bytes,
    });
    return selected.reduce((sum, c) => sum + (RISK_MAX_BPS - c.risk), 0);
  }

  verifyCertificate(cert: CommitCertificate, committee: Committee): ChainError | null {
    const keys = new Map(committee.members.map((m) => [m.address, m.publicKey]));
    let previous = '';
    for (const bytes of cert.votes) {
      let sv;
      try {
        sv = this.decodeVote(bytes);
      } catch (err) {
        return err instanceof ChainError ? err : new ChainError('malformed', 'bad vote in certificate');
      }
      const v = sv.vote;
      const voter = addressFromPublicKey(sv.signer);
      if (voter <= previous)
        return new ChainError('invalid_certificate', 'votes not sorted by unique signer');
      previous = voter;
      const key = keys.get(voter);
      if (!key || !equalBytes(key, sv.signer)) {
        return new ChainError('invalid_certificate', 'signer outside the committee');
      }
      if (
        v.type !== 'precommit' ||
        v.chain_id !== this.chainId ||
        v.height !== cert.height ||
        v.round !== cert.round ||
        !v.block_hash ||
        !equalBytes(v.block_hash, cert.block_hash)
      ) {
        return new ChainError('invalid_certificate', 'vote does not match the certificate');
      }
      if (!this.verifyVote(sv, bytes)) return new ChainError('bad_signature', 'certificate vote signature');
    }
    if (cert.votes.length < committee.quorum) {
      return new ChainError(
        'invalid_certificate',
        `${cert.votes.length} votes, quorum is ${committee.quorum}`,
      );
    }
    return null;
  }

  /** Verifies a vote's signature once per distinct encoding (the engine and certificates share it). */
  verifyVote(sv: SignedVote, bytes: Uint8Array): boolean {
    const id = signedDigest(bytes);
    if (this.verified.has(id)) return true;
    if (!verifyVote(sv)) return false;
    this.verified.add(id);
    return true;
  }

  private certSigners(cert: CommitCertificate): Address[] {
    return cert.votes.map((b) => addressFromPublicKey(this.decodeVote(b).signer));
  }

  /** Strict decode of a signed vote, memoized: every proposal at a height carries a certificate. */
  private decodeVote(bytes: Uint8Array): SignedVote {
    const digest = signedDigest(bytes);
    let sv = this.decodedVotes.get(digest);
    if (!sv) {
      sv = decodeSignedVote(bytes);
      if (this.decodedVotes.size >= DECODED_CACHE_LIMIT) this.decodedVotes.clear();
      this.decodedVotes.set(digest, sv);
    }
    return sv;
  }

  commit(block: Block, hash: Uint8Array, cert: CommitCertificate): void {
    const key = toHex(hash);
    let pending = this.pending.get(key);
    if (!pending?.exec || !pending.tree) {
      const check = this.checkBlock(block, Number.MAX_SAFE_INTEGER);
      if (!check.ok) throw check.error;
      pending = this.pending.get(key)!;
    }
    if (!pending.check.ok) throw pending.check.error;
    const { exec, tree } = pending as Required<Pending>;
    this.store.commitBlock({
      height: block.header.height,
      hash,
      block: encodeBlock(block),
      cert: encodeCertificate(cert),
      txHashes: exec.included.map((t) => t.hash),
      changes: exec.overlay.changes(),
    });
    this.tree = tree;
    this.tip = { height: block.header.height, hash, timestamp: block.header.timestamp };
    this.pending.clear();
    this.execMemo.clear();
    this.committeeCache = null;
    this.mempool.onCommitted(
      exec.included.map((t) => t.hash),
      this.tree,
    );
    this.mempool.expire();
  }

  latestCertificate(): CommitCertificate | null {
    const bytes = this.tip.height > 0 ? this.store.certByHeight(this.tip.height) : undefined;
    return bytes ? decodeCertificate(bytes) : null;
  }

  hasPendingTransactions(): boolean {
    return this.mempool.size > 0;
  }

  blocksFrom(fromHeight: number, max: number): Array<{ block: Uint8Array; cert: Uint8Array }> {
    return this.store.blocksFrom(fromHeight, max).map((b) => ({ block: b.block, cert: b.cert }));
  }

  // ---------------------------------------------------------------- transactions in

  /**
   * Validates a transaction statelessly (signature, chain id, size, price, body) and adds it to
   * the mempool against the committed state. Throws ChainError with a stable code.
   */
  submitTransaction(bytes: Uint8Array): { hash: Uint8Array } {
    const { stx, hash, digest: key } = this.decodeTx(bytes);
    if (this.mempool.has(hash) || this.store.txLocation(hash))
      throw new ChainError('duplicate', 'transaction already known');
    this.verifyOnce(stx, bytes, hash, key);
    this.mempool.add(stx, bytes, hash, this.tree);
    return { hash };
  }

  /** Strict decode of a signed transaction, memoized by the digest of its bytes. */
  private decodeTx(bytes: Uint8Array): { stx: SignedTransaction; hash: Uint8Array; digest: string } {
    const digest = signedDigest(bytes);
    const hit = this.decodedTxs.get(digest);
    if (hit) return { ...hit, digest };
    const stx = decodeSignedTransaction(bytes, this.genesis.params.max_tx_bytes);
    const hash = txHash(stx);
    if (this.decodedTxs.size >= DECODED_CACHE_LIMIT) this.decodedTxs.clear();
    this.decodedTxs.set(digest, { stx, hash });
    return { stx, hash, digest };
  }

  /** Stateless checks and signature, once per distinct signed encoding. Throws ChainError. */
  private verifyOnce(stx: SignedTransaction, bytes: Uint8Array, hash: Uint8Array, digest: string): void {
    if (this.verified.has(digest)) return;
    const ctx = {
      chainId: this.chainId,
      params: this.genesis.params,
      schemes: this.genesis.signature_schemes,
    };
    checkStateless(stx, ctx, { bytes, hash });
    this.verified.add(digest);
  }

  /** Decoded committed block, for APIs and tools. */
  block(height: number): { block: Block; cert: CommitCertificate | null; hash: Uint8Array } | null {
    const stored = this.store.blockByHeight(height);
    if (!stored) return null;
    return { block: decodeBlock(stored.block), cert: decodeCertificate(stored.cert), hash: stored.hash };
  }
}

/** Digest of a signed object's full encoding: covers the signature, unlike the object's hash. */
function signedDigest(bytes: Uint8Array): string {
  return toHex(sha256(bytes));
}

function sameBody(a: Block, b: Block): boolean {
  if (a.txs.length !== b.txs.length) return false;
  for (let i = 0; i < a.txs.length; i++) if (!equalBytes(a.txs[i]!, b.txs[i]!)) return false;
  return (
    equalBytes(colourRoot(a.colours), colourRoot(b.colours)) &&
    equalBytes(commitHash(a.last_commit), commitHash(b.last_commit))
  );
}
