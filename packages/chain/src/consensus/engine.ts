import { addressFromPublicKey, equalBytes, fromHex, sha256, toHex, type SigningKey } from '@self/crypto';
import { ChainError } from '../errors.js';
import type { TimingProfile } from '../params.js';
import { compareProposals, meetsReference } from '../poai/index.js';
import type { Address, Block, CommitCertificate, SignedProposal, SignedVote, VoteType } from '../types.js';
import type { BlockCheck, ChainPort, Committee } from './chain-port.js';
import type { Clock } from './clock.js';
import type { ConsensusTransport, WireMessage } from './transport.js';
import { VoteSet, targetKey } from './vote-set.js';
import * as wire from './wire.js';

type Step = 'propose' | 'prevote' | 'precommit' | 'commit';

/** Fault injection for the simulator's Byzantine validators. Never set in production. */
export interface ByzantineBehaviour {
  /** Sign two conflicting votes each step and send each to half of the peers. */
  equivocate?: boolean;
  /** Claim a higher efficiency than the block has. */
  inflateEfficiency?: boolean;
  /** Propose blocks with a wrong state root. */
  invalidStateRoot?: boolean;
  /** Send undecodable bytes as proposals and votes. */
  garbage?: boolean;
}

export interface EngineEvents {
  onCommit?(info: {
    height: number;
    round: number;
    hash: Uint8Array;
    block: Block;
    cert: CommitCertificate;
  }): void;
  /** Two conflicting votes from one validator: the node turns them into an `evidence` transaction. */
  onEquivocation?(voteA: Uint8Array, voteB: Uint8Array, voter: Address): void;
  /** A message was rejected; `reason` is a stable code (metrics count them by reason). */
  onReject?(reason: string, from: string | null): void;
  onRound?(height: number, round: number): void;
}

export interface EngineOptions {
  key: SigningKey;
  timing: TimingProfile;
  /** Own messages of the current height are re-sent this often, so lost messages do not stall a round. */
  rebroadcastMs?: number;
  /**
   * With nothing in the mempool, wait this long after a commit before starting the next height
   * (instead of the profile's commit_ms), unless a transaction arrives (`nudge`) or a peer moves on
   * first. Local policy, like CometBFT's create_empty_blocks_interval; unset: never wait.
   */
  emptyBlockWaitMs?: number;
  /** Most blocks served per sync response. */
  syncBatch?: number;
  byzantine?: ByzantineBehaviour;
}

export interface EngineModules {
  chain: ChainPort;
  transport: ConsensusTransport;
  clock: Clock;
  events?: EngineEvents;
  /** Persists the lock and the votes signed at the current height, so a restart cannot double-sign. */
  privState?: { load(): Uint8Array | undefined; save(bytes: Uint8Array): void };
}

interface KnownBlock {
  block: Block;
  hash: Uint8Array;
  /** Peer the block came from (null: built here), so a bad block is charged to its sender. */
  from: string | null;
  check?: BlockCheck;
}

interface RoundProposal {
  hashHex: string;
  polRound: number;
}

const MAX_FUTURE_MESSAGES = 4096;
const MAX_PARKED_VOTES = 4096;
const MAX_SEEN_MESSAGES = 100_000;
/** Messages for rounds further ahead are rejected: no honest validator gets there before timeouts would take it. */
const MAX_ROUNDS_AHEAD = 1000;
/**
 * Rounds after building its block in which a builder without a valid block proposes that same
 * block again instead of building a new one (see propose).
 */
const REPROPOSE_ROUNDS = 2;

/**
 * Proof-of-AI BFT consensus for one node: Tendermint's locking rules (propose, prevote, precommit,
 * lock on a polka, unlock only on a later polka) adapted to builder competition: every active
 * builder proposes, and each validator prevotes for the most efficient valid proposal, ranking all
 * of them. A block commits when more than two thirds of the committee precommit it in one round.
 * See docs/protocol/consensus.md.
 */
export class ConsensusEngine {
  readonly address: Address;
  private readonly chain: ChainPort;
  private readonly transport: ConsensusTransport;
  private readonly clock: Clock;
  private readonly events: EngineEvents;
  private readonly privState: EngineModules['privState'];

  private height = 0;
  private round = 0;
  private step: Step = 'propose';
  private committee: Committee = { height: 0, members: [], quorum: 1 };
  private members = new Map<Address, Uint8Array>();
  private builders = new Set<Address>();
  private blocks = new Map<string, KnownBlock>();
  private proposals = new Map<number, Map<Address, RoundProposal>>();
  private prevotes = new Map<number, VoteSet>();
  private precommits = new Map<number, VoteSet>();
  private locked: { hashHex: string; round: number } | null = null;
  private valid: { hashHex: string; round: number } | null = null;
  /** Votes this node signed at this height, by `${round}/${type}`: never sign a different one. */
  private signed = new Map<string, Uint8Array[]>();
  private ownProposal: Uint8Array | null = null;
  /** The block this node built at this height, and the round it built it in. */
  private ownBlock: { known: KnownBlock; round: number } | null = null;
  /** Rounds whose prevote and precommit timeouts are running (see armStepTimeouts). */
  private armed = { prevote: -1, precommit: -1 };
  private timers: Array<() => void> = [];
  private rebroadcastTimer: (() => void) | null = null;
  private future: Array<{ msg: WireMessage; from: string | null }> = [];
  private parked = new Map<string, Array<{ bytes: Uint8Array; from: string | null }>>();
  /** Digests of proposals and votes of this height already handled: re-sent copies cost nothing. */
  private seen = new Set<string>();
  private parkedCount = 0;
  /**
   * The first verified vote of each validator per (type, round) this height, parked or counted.
   * Equivocation is provable from two signed votes alone, so it is caught even when one of them
   * names a block this node never saw (a phantom or invalid proposal).
   */
  private firstVotes = new Map<string, { target: string; bytes: Uint8Array; reported: Set<string> }>();
  private lastCert: CommitCertificate | null = null;
  private lastCommittee: Committee | null = null;
  private lastSyncRequest = -Infinity;
  /** Set while the commit pause is stretched because there is nothing to put in a block. */
  private idle: { next: number; committedAt: number; cancel: () => void } | null = null;
  private running = false;

  constructor(
    private readonly opts: EngineOptions,
    modules: EngineModules,
  ) {
    this.chain = modules.chain;
    this.transport = modules.transport;
    this.clock = modules.clock;
    this.events = modules.events ?? {};
    this.privState = modules.privState;
    this.address = addressFromPublicKey(opts.key.publicKey);
  }

  get status(): { height: number; round: number; step: Step; locked: boolean } {
    return { height: this.height, round: this.round, step: this.step, locked: this.locked !== null };
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    // After a restart the next proposal still needs the parent's certificate.
    this.lastCert = this.chain.latestCertificate();
    this.startHeight(this.chain.latestHeight() + 1);
    const every = this.opts.rebroadcastMs ?? this.opts.timing.propose_ms;
    const tick = (): void => {
      if (!this.running) return;
      this.rebroadcast();
      this.rebroadcastTimer = this.clock.schedule(every, tick);
    };
    this.rebroadcastTimer = this.clock.schedule(every, tick);
  }

  stop(): void {
    this.running = false;
    this.clearTimers();
    this.rebroadcastTimer?.();
    this.rebroadcastTimer = null;
  }

  /** Entry point for every message from the network. Never throws for a peer's bad input. */
  receive(msg: WireMessage, from: string | null): void {
    if (!this.running) return;
    try {
      switch (msg.t) {
        case 'proposal':
        case 'vote': {
          const id = `${msg.t}:${toHex(sha256(msg.data))}`;
          if (this.seen.has(id)) return;
          // A flood of distinct junk must not grow memory without bound; forgetting costs only re-checks.
          if (this.seen.size >= MAX_SEEN_MESSAGES) this.seen.clear();
          try {
            const settled =
              msg.t === 'proposal' ? this.onProposal(msg.data, from) : this.onVote(msg.data, from);
            if (settled) this.seen.add(id);
          } catch (err) {
            // Rejected for good at this height: a re-sent copy is dropped without a second report.
            if (err instanceof ChainError && err.code !== 'unknown_proposal') this.seen.add(id);
            throw err;
          }
          break;
        }
        case 'status':
          if (Number.isSafeInteger(msg.height) && msg.height > this.chain.latestHeight())
            this.requestSync(from);
          break;
        case 'sync-req':
          this.onSyncRequest(msg.from, from);
          break;
        case 'sync-res':
          this.onSyncResponse(msg.blocks, from);
          break;
        case 'txs':
          break;
      }
    } catch (err) {
      this.reject(err instanceof ChainError ? err.code : 'internal', from);
      if (!(err instanceof ChainError)) throw err;
    }
  }

  // ---------------------------------------------------------------- heights and rounds

  private startHeight(height: number): void {
    this.clearTimers();
    this.idle = null;
    this.height = height;
    this.round = 0;
    this.step = 'propose';
    this.committee = this.chain.nextCommittee();
    this.members = new Map(this.committee.members.map((m) => [m.address, m.publicKey]));
    this.builders = new Set(
      this.committee.members.map((m) => m.address).filter((a) => this.chain.isBuilder(a)),
    );
    this.blocks = new Map();
    this.proposals = new Map();
    this.prevotes = new Map();
    this.precommits = new Map();
    this.locked = null;
    this.valid = null;
    this.signed = new Map();
    this.ownProposal = null;
    this.ownBlock = null;
    this.armed = { prevote: -1, precommit: -1 };
    this.parked.clear();
    this.parkedCount = 0;
    this.firstVotes.clear();
    this.seen.clear();
    this.restorePrivState();
    const buffered = this.future;
    this.future = [];
    this.enterRound(this.round);
    for (const { msg, from } of buffered) this.receive(msg, from);
  }

  private enterRound(round: number): void {
    this.clearTimers();
    this.round = round;
    this.step = 'propose';
    this.ownProposal = null;
    this.events.onRound?.(this.height, round);
    const t = this.opts.timing;
    this.timers.push(
      this.clock.schedule(t.propose_ms + round * t.propose_delta_ms, () => {
        if (this.round === round && this.step === 'propose') this.doPrevote();
      }),
    );
    if (this.builders.has(this.address)) this.propose();
    this.evaluate();
  }

  private propose(): void {
    let known: KnownBlock;
    let polRound = -1;
    const validBlock = this.valid ? this.blocks.get(this.valid.hashHex) : undefined;
    if (this.valid && validBlock) {
      known = validBlock;
      polRound = this.valid.round;
    } else if (this.ownBlock && this.round - this.ownBlock.round <= REPROPOSE_ROUNDS) {
      // A round that failed under load would otherwise bring larger proposals from fuller
      // mempools, slower to carry and check, which fail again. Peers already hold and have
      // checked this block, so the next round can go through at once. After a few rounds the
      // builder builds anew, in case the block itself was the trouble (a clock far ahead).
      known = this.ownBlock.known;
    } else {
      const now = this.clock.now();
      const built = this.chain.buildBlock({
        proposer: this.address,
        round: this.round,
        timestamp: Math.max(now, this.chain.latestTimestamp() + 1),
        lastCommit: this.lastCert,
      });
      known = { ...wire.tamperBlock(built, this.opts.byzantine), from: null };
      this.ownBlock = { known, round: this.round };
    }
    const signed = wire.signProposal(
      { v: 1, block: known.block, pol_round: polRound, round: this.round },
      this.opts.key,
    );
    const bytes = wire.encodeProposal(signed);
    this.ownProposal = bytes;
    this.acceptProposal(signed, known.hash, null);
    if (this.opts.byzantine?.garbage)
      this.transport.broadcast({ t: 'proposal', data: wire.garbage(bytes.length) });
    this.transport.broadcast({ t: 'proposal', data: bytes });
    if (polRound >= 0) this.sendProofOfLock();
  }

  /**
   * A re-proposal is only prevoted by validators that saw its polka, so the prevotes that form it
   * travel with it (and with every rebroadcast); otherwise validators locked on a block whose polka
   * the others missed could stall the height forever.
   */
  private sendProofOfLock(): void {
    if (!this.valid) return;
    const votes = this.prevotes.get(this.valid.round)?.votesFor(this.valid.hashHex) ?? [];
    for (const v of votes) this.transport.broadcast({ t: 'vote', data: v.bytes });
  }

  // ---------------------------------------------------------------- proposals

  /** Returns true once the message is settled at this height (a re-sent copy can be skipped). */
  private onProposal(bytes: Uint8Array, from: string | null): boolean {
    const sp = wire.decodeProposal(bytes);
    const header = sp.proposal.block.header;
    if (header.chain_id !== this.chain.chainId)
      throw new ChainError('wrong_chain', 'proposal for another chain');
    if (header.height > this.height) {
      this.deferFuture({ t: 'proposal', data: bytes }, header.height, from);
      return false;
    }
    if (header.height < this.height) return false;
    const signer = addressFromPublicKey(sp.signer);
    if (!this.builders.has(signer)) throw new ChainError('not_validator', 'proposal from a non-builder');
    if (!wire.verifyProposal(sp)) throw new ChainError('bad_signature', 'proposal signature does not verify');
    if (sp.proposal.pol_round >= sp.proposal.round)
      throw new ChainError('malformed', 'pol_round must be below round');
    if (sp.proposal.round > this.round + MAX_ROUNDS_AHEAD)
      throw new ChainError('malformed', 'proposal round too far ahead');
    // Only bodies that match their header are kept, so a block hash names exactly one block.
    if (!this.chain.bodyBinds(sp.proposal.block))
      throw new ChainError('invalid_block', 'block body does not match its header');
    this.acceptProposal(sp, wire.blockHash(sp.proposal.block), from);
    return true;
  }

  private acceptProposal(sp: SignedProposal, hash: Uint8Array, from: string | null): void {
    const { round, pol_round: polRound, block } = sp.proposal;
    const signer = addressFromPublicKey(sp.signer);
    const hashHex = toHex(hash);
    let byBuilder = this.proposals.get(round);
    if (!byBuilder) this.proposals.set(round, (byBuilder = new Map()));
    const earlier = byBuilder.get(signer);
    if (earlier) {
      if (earlier.hashHex !== hashHex) this.reject('conflicting_proposal', from);
      return;
    }
    byBuilder.set(signer, { hashHex, polRound });
    const known = this.blocks.get(hashHex);
    // A header can arrive with a body that differs only in a signature (a Byzantine relay): keep
    // the first body unless it turned out invalid, so the honest copy can still win.
    if (!known || (known.check && !known.check.ok && known.block !== block))
      this.blocks.set(hashHex, { block, hash, from });
    const waiting = this.parked.get(hashHex);
    if (waiting) {
      this.parked.delete(hashHex);
      this.parkedCount -= waiting.length;
      for (const v of waiting) this.receive({ t: 'vote', data: v.bytes }, v.from);
    }
    this.evaluate();
  }

  private checked(hashHex: string): BlockCheck | undefined {
    const known = this.blocks.get(hashHex);
    if (!known) return undefined;
    if (!known.check) {
      known.check = this.chain.checkBlock(known.block, this.clock.now());
      if (!known.check.ok) this.reject(`invalid_block:${known.check.error.code}`, known.from);
    }
    return known.check;
  }

  private isValid(hashHex: string): boolean {
    return this.checked(hashHex)?.ok === true;
  }

  // ---------------------------------------------------------------- prevote

  private doPrevote(): void {
    const proposals = [...(this.proposals.get(this.round)?.values() ?? [])];
    const validHashes = [...new Set(proposals.map((p) => p.hashHex))].filter((h) => this.isValid(h));
    const ranking = this.rank(validHashes);
    let choice: string | null = null;

    // A re-proposal backed by a polka from an earlier round takes precedence (Tendermint's rule).
    const withPol = proposals
      .filter((p) => p.polRound >= 0 && validHashes.includes(p.hashHex))
      .filter((p) => (this.prevotes.get(p.polRound)?.count(p.hashHex) ?? 0) >= this.committee.quorum)
      .sort((a, b) => b.polRound - a.polRound)[0];
    if (
      withPol &&
      (!this.locked || this.locked.round <= withPol.polRound || this.locked.hashHex === withPol.hashHex)
    ) {
      choice = withPol.hashHex;
    } else if (this.locked) {
      choice = validHashes.includes(this.locked.hashHex) ? this.locked.hashHex : null;
    } else {
      choice = ranking[0] ?? null;
    }
    // The step changes before the vote is cast: casting may complete a quorum and commit at once.
    this.step = 'prevote';
    this.castVote('prevote', choice, ranking);
  }

  /**
   * Tendermint's step timeouts: the prevote timeout starts once a quorum of prevotes of any kind is
   * in (while prevoting), the precommit timeout once a quorum of precommits of any kind is in. A
   * timer started at a node's own vote instead made a validator that prevoted early give up on
   * peers that prevoted the same block a few hundred ms later, which is normal under load.
   */
  private armStepTimeouts(): void {
    const r = this.round;
    const t = this.opts.timing;
    if (this.step === 'prevote' && this.armed.prevote !== r && this.prevotes.get(r)?.hasQuorumOfAny()) {
      this.armed.prevote = r;
      this.timers.push(
        this.clock.schedule(t.prevote_ms + r * t.prevote_delta_ms, () => this.onPrevoteTimeout(r)),
      );
    }
    if (this.armed.precommit !== r && this.precommits.get(r)?.hasQuorumOfAny()) {
      this.armed.precommit = r;
      this.timers.push(
        this.clock.schedule(t.precommit_ms + r * t.precommit_delta_ms, () => {
          if (this.round === r && this.step !== 'commit') this.enterRound(r + 1);
        }),
      );
    }
  }

  /**
   * Ranks valid proposals: those that reach the reference block's efficiency first, then by
   * efficiency, proposer and hash (docs/protocol/consensus.md). The reference block is the
   * 20/20/50/10 selection over the transactions that a majority of the valid proposals include,
   * so a builder that leaves out what most builders saw falls behind every one that did not.
   */
  private rank(validHashes: string[]): string[] {
    const checks = validHashes
      .map((h) => this.checked(h))
      .filter((c): c is BlockCheck & { ok: true } => !!c?.ok);
    const seen = new Map<string, { cand: (typeof checks)[number]['candidates'][number]; count: number }>();
    for (const c of checks) {
      for (const cand of c.candidates) {
        const key = toHex(cand.hash);
        const entry = seen.get(key);
        if (entry) entry.count++;
        else seen.set(key, { cand, count: 1 });
      }
    }
    const majority = [...seen.values()].filter((e) => e.count * 2 > checks.length).map((e) => e.cand);
    const reference = this.chain.referenceEfficiency(majority);
    return checks
      .map((c) => ({
        c,
        meets: meetsReference(c.efficiency, reference),
        header: this.blocks.get(toHex(c.hash))!.block.header,
      }))
      .sort(
        (a, b) =>
          Number(b.meets) - Number(a.meets) ||
          compareProposals(
            { efficiency: a.c.efficiency, proposer: a.header.proposer, block_hash: a.c.hash },
            { efficiency: b.c.efficiency, proposer: b.header.proposer, block_hash: b.c.hash },
          ),
      )
      .map((x) => toHex(x.c.hash));
  }

  private onPrevoteTimeout(round: number): void {
    if (this.round === round && this.step === 'prevote') this.precommit(null);
  }

  // ---------------------------------------------------------------- precommit and commit

  private precommit(hashHex: string | null): void {
    this.step = 'precommit';
    this.castVote('precommit', hashHex, []);
  }

  /** Re-checks every rule whose condition may have become true, then the step timeouts. */
  private evaluate(): void {
    this.applyRules();
    if (this.step !== 'commit') this.armStepTimeouts();
  }

  private applyRules(): void {
    if (this.step === 'commit') return;
    // Commit: a quorum of precommits for a known valid block in any round.
    for (const [round, set] of this.precommits) {
      const target = set.quorumTarget();
      if (target && target !== 'nil' && this.isValid(target)) return this.commit(round, target);
    }
    const r = this.round;
    const prevotes = this.prevotes.get(r);
    if (this.step === 'propose') {
      const proposers = this.proposals.get(r)?.size ?? 0;
      if (proposers >= this.builders.size && this.builders.size > 0) return this.doPrevote();
    }
    if (prevotes && this.step !== 'propose') {
      const target = prevotes.quorumTarget();
      if (target && target !== 'nil' && this.isValid(target)) {
        if (!this.valid || this.valid.round < r) this.valid = { hashHex: target, round: r };
        if (this.step === 'prevote') {
          this.locked = { hashHex: target, round: r };
          this.savePrivState();
          return this.precommit(target);
        }
      } else if (target === 'nil' && this.step === 'prevote') {
        return this.precommit(null);
      }
    }
    // Round skip: f+1 committee members are already in a later round.
    const f1 = this.committee.members.length - this.committee.quorum + 1;
    for (const round of new Set([...this.prevotes.keys(), ...this.precommits.keys()])) {
      if (round <= r) continue;
      const voters = new Set<Address>();
      for (const m of this.committee.members) {
        if (this.prevotes.get(round)?.get(m.address) || this.precommits.get(round)?.get(m.address))
          voters.add(m.address);
      }
      if (voters.size >= f1) return this.enterRound(round);
    }
  }

  private commit(round: number, hashHex: string): void {
    const known = this.blocks.get(hashHex)!;
    const votes = this.precommits.get(round)!.votesFor(hashHex);
    const cert: CommitCertificate = {
      height: this.height,
      round,
      block_hash: known.hash,
      votes: votes.map((v) => v.bytes),
    };
    this.step = 'commit';
    this.clearTimers();
    this.chain.commit(known.block, known.hash, cert);
    this.lastCert = cert;
    this.lastCommittee = this.committee;
    this.events.onCommit?.({ height: this.height, round, hash: known.hash, block: known.block, cert });
    const next = this.height + 1;
    const wait = this.opts.emptyBlockWaitMs;
    if (wait !== undefined && wait > this.opts.timing.commit_ms && !this.chain.hasPendingTransactions()) {
      const cancel = this.clock.schedule(wait, () => this.startHeight(next));
      this.idle = { next, committedAt: this.clock.now(), cancel };
      this.timers.push(cancel);
      return;
    }
    this.timers.push(this.clock.schedule(this.opts.timing.commit_ms, () => this.startHeight(next)));
  }

  /**
   * There is work for a block (a transaction arrived, or a peer started the next height): end a
   * stretched commit pause, keeping at least the profile's commit_ms after the commit.
   */
  nudge(): void {
    const idle = this.idle;
    if (!idle || !this.running || this.height + 1 !== idle.next) return;
    this.idle = null;
    idle.cancel();
    const left = Math.max(0, this.opts.timing.commit_ms - (this.clock.now() - idle.committedAt));
    this.timers.push(this.clock.schedule(left, () => this.startHeight(idle.next)));
  }

  // ---------------------------------------------------------------- votes

  private castVote(type: VoteType, hashHex: string | null, ranking: string[]): void {
    // Only committee members vote; a jailed validator or a full node follows the chain silently.
    if (!this.members.has(this.address)) return;
    const key = `${this.round}/${type}`;
    const already = this.signed.get(key);
    if (already) {
      // Restarted mid-round: re-send what was signed before, never a different vote.
      for (const bytes of already) {
        this.transport.broadcast({ t: 'vote', data: bytes });
        this.addVote(wire.decodeVote(bytes), bytes);
      }
      return;
    }
    const vote = {
      v: 1 as const,
      chain_id: this.chain.chainId,
      height: this.height,
      round: this.round,
      type,
      block_hash: hashHex ? fromHex(hashHex) : null,
      ranking: type === 'prevote' ? ranking.map(fromHex) : [],
    };
    const sv = wire.signVote(vote, this.opts.key);
    const bytes = wire.encodeVote(sv);
    if (this.opts.byzantine?.equivocate) {
      const other = [...this.blocks.keys()].find((h) => h !== hashHex) ?? null;
      const twin = wire.encodeVote(
        wire.signVote(
          { ...vote, block_hash: other ? fromHex(other) : hashHex ? null : new Uint8Array(32) },
          this.opts.key,
        ),
      );
      this.signed.set(key, [bytes, twin]);
      const peers = this.transport.peers();
      peers.forEach((p, i) => this.transport.send(p, { t: 'vote', data: i % 2 === 0 ? bytes : twin }));
      this.addVote(sv, bytes);
      return;
    }
    this.signed.set(key, [bytes]);
    this.savePrivState();
    this.addVote(sv, bytes);
    if (this.opts.byzantine?.garbage)
      this.transport.broadcast({ t: 'vote', data: wire.garbage(bytes.length) });
    this.transport.broadcast({ t: 'vote', data: bytes });
  }

  private onVote(bytes: Uint8Array, from: string | null): boolean {
    const sv = wire.decodeVote(bytes);
    const v = sv.vote;
    if (v.chain_id !== this.chain.chainId) throw new ChainError('wrong_chain', 'vote for another chain');
    if (v.height === this.height - 1 && v.type === 'precommit') {
      this.onLatePrecommit(sv, bytes);
      return false;
    }
    if (v.height > this.height) {
      this.deferFuture({ t: 'vote', data: bytes }, v.height, from);
      return false;
    }
    if (v.height < this.height) return false;
    if (v.round > this.round + MAX_ROUNDS_AHEAD)
      throw new ChainError('malformed', 'vote round too far ahead');
    const voter = addressFromPublicKey(sv.signer);
    const key = this.members.get(voter);
    if (!key || !equalBytes(key, sv.signer))
      throw new ChainError('not_validator', 'vote from outside the committee');
    const sets = v.type === 'prevote' ? this.prevotes : this.precommits;
    const set = sets.get(v.round);
    const target = targetKey(v.block_hash);
    if (set?.has(voter, target)) return true;
    if (!this.chain.verifyVote(sv, bytes))
      throw new ChainError('bad_signature', 'vote signature does not verify');
    const conflict = this.noteFirstVote(`${v.type}:${v.round}:${voter}`, target, bytes);
    if (conflict) {
      // Counted toward its own target (see VoteSet), reported, and turned into evidence.
      this.events.onEquivocation?.(conflict, bytes, voter);
      this.reject('equivocation', from);
    }
    if (v.block_hash && !this.blocks.has(target)) {
      this.park(target, bytes, from);
      if (conflict) return false;
      throw new ChainError('unknown_proposal', 'vote for a block this node has not seen');
    }
    this.addVote(sv, bytes);
    return true;
  }

  /**
   * Remembers a validator's first vote for a slot; returns it when `target` conflicts with it,
   * once per conflicting target (a parked vote replayed later is not reported twice).
   */
  private noteFirstVote(slot: string, target: string, bytes: Uint8Array): Uint8Array | null {
    const first = this.firstVotes.get(slot);
    if (!first) {
      this.firstVotes.set(slot, { target, bytes, reported: new Set() });
      return null;
    }
    if (first.target === target || first.reported.has(target)) return null;
    first.reported.add(target);
    return first.bytes;
  }

  private addVote(sv: SignedVote, bytes: Uint8Array): void {
    const v = sv.vote;
    const sets = v.type === 'prevote' ? this.prevotes : this.precommits;
    let set = sets.get(v.round);
    if (!set) sets.set(v.round, (set = new VoteSet(this.committee.quorum)));
    const voter = addressFromPublicKey(sv.signer);
    if (set.has(voter, targetKey(v.block_hash))) return;
    set.add(voter, sv, bytes);
    this.evaluate();
  }

  /** Precommits for the block just committed still arrive; more signers means more voters rewarded. */
  private onLatePrecommit(sv: SignedVote, bytes: Uint8Array): void {
    const cert = this.lastCert;
    const committee = this.lastCommittee;
    if (!cert || !committee || sv.vote.round !== cert.round || !sv.vote.block_hash) return;
    if (!equalBytes(sv.vote.block_hash, cert.block_hash)) return;
    const voter = addressFromPublicKey(sv.signer);
    if (!committee.members.some((m) => m.address === voter && equalBytes(m.publicKey, sv.signer))) return;
    const signers = new Set(cert.votes.map((b) => addressFromPublicKey(wire.decodeVote(b).signer)));
    if (signers.has(voter) || !this.chain.verifyVote(sv, bytes)) return;
    const votes = [...cert.votes, bytes].map((b) => ({
      b,
      a: addressFromPublicKey(wire.decodeVote(b).signer),
    }));
    votes.sort((x, y) => (x.a < y.a ? -1 : x.a > y.a ? 1 : 0));
    this.lastCert = { ...cert, votes: votes.map((x) => x.b) };
  }

  private park(hashHex: string, bytes: Uint8Array, from: string | null): void {
    if (this.parkedCount >= MAX_PARKED_VOTES) return;
    const list = this.parked.get(hashHex) ?? [];
    if (list.some((p) => equalBytes(p.bytes, bytes))) return;
    list.push({ bytes, from });
    this.parked.set(hashHex, list);
    this.parkedCount++;
  }

  // ---------------------------------------------------------------- sync

  private deferFuture(msg: WireMessage, height: number, from: string | null): void {
    if (height === this.height + 1) this.nudge();
    if (height === this.height + 1 && this.future.length < MAX_FUTURE_MESSAGES)
      this.future.push({ msg, from });
    // Messages from a later height mean peers have committed blocks this node lacks — unless this
    // node has just committed too and is in its commit pause.
    if (height === this.height + 1 && this.step === 'commit') return;
    if (height > this.height) this.requestSync(from);
  }

  private requestSync(from: string | null): void {
    const now = this.clock.now();
    if (now - this.lastSyncRequest < this.opts.timing.propose_ms) return;
    this.lastSyncRequest = now;
    const msg: WireMessage = { t: 'sync-req', from: this.chain.latestHeight() + 1 };
    if (from) this.transport.send(from, msg);
    else this.transport.broadcast(msg);
  }

  private onSyncRequest(fromHeight: number, peer: string | null): void {
    if (!peer || !Number.isSafeInteger(fromHeight) || fromHeight < 1) return;
    if (fromHeight > this.chain.latestHeight()) return;
    const blocks = this.chain.blocksFrom(fromHeight, this.opts.syncBatch ?? 32);
    if (blocks.length > 0) this.transport.send(peer, { t: 'sync-res', blocks });
  }

  private onSyncResponse(blocks: Array<{ block: Uint8Array; cert: Uint8Array }>, from: string | null): void {
    let applied = 0;
    for (const item of blocks) {
      const block = wire.decodeBlock(item.block);
      const cert = wire.decodeCert(item.cert);
      const next = this.chain.latestHeight() + 1;
      if (block.header.height < next) continue;
      if (block.header.height > next) break;
      const hash = wire.blockHash(block);
      if (cert.height !== next || !equalBytes(cert.block_hash, hash)) {
        throw new ChainError(
          'invalid_certificate',
          `sync: certificate for ${cert.height} does not match block ${next}`,
        );
      }
      const committee = this.chain.nextCommittee();
      const certError = this.chain.verifyCertificate(cert, committee);
      if (certError) throw certError;
      const check = this.chain.checkBlock(block, this.clock.now());
      if (!check.ok) throw check.error;
      this.chain.commit(block, hash, cert);
      this.lastCert = cert;
      this.lastCommittee = committee;
      this.events.onCommit?.({ height: next, round: cert.round, hash, block, cert });
      applied++;
    }
    if (applied > 0) {
      this.startHeight(this.chain.latestHeight() + 1);
      if (blocks.length >= (this.opts.syncBatch ?? 32)) {
        this.lastSyncRequest = -Infinity;
        this.requestSync(from);
      }
    }
  }

  // ---------------------------------------------------------------- housekeeping

  private rebroadcast(): void {
    this.transport.broadcast({ t: 'status', height: this.chain.latestHeight() });
    if (this.step === 'commit') return;
    if (this.ownProposal) this.transport.broadcast({ t: 'proposal', data: this.ownProposal });
    for (const [key, list] of this.signed) {
      const round = Number(key.split('/')[0]);
      if (round < this.round - 1) continue;
      for (const bytes of list) this.transport.broadcast({ t: 'vote', data: bytes });
    }
    this.sendProofOfLock();
  }

  private savePrivState(): void {
    if (!this.privState) return;
    this.privState.save(
      wire.encodePrivState({
        height: this.height,
        round: this.round,
        locked: this.locked,
        valid: this.valid,
        signed: [...this.signed.entries()].map(([k, v]) => [k, v]),
      }),
    );
  }

  private restorePrivState(): void {
    const bytes = this.privState?.load();
    if (!bytes) return;
    const s = wire.decodePrivState(bytes);
    if (!s || s.height !== this.height) return;
    this.round = s.round;
    this.locked = s.locked;
    this.valid = s.valid;
    this.signed = new Map(s.signed);
  }

  private reject(reason: string, from: string | null): void {
    this.events.onReject?.(reason, from);
  }

  private clearTimers(): void {
    for (const cancel of this.timers) cancel();
    this.timers = [];
  }
}
