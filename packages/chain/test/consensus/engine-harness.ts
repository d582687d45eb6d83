import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { addressFromPublicKey, equalBytes, type SigningKey } from '@self/crypto';
import { Chain } from '../../src/chain.js';
import {
  decodeSignedProposal,
  decodeSignedVote,
  encodeSignedProposal,
  encodeSignedVote,
  headerHash,
  signProposal,
  signVote,
} from '../../src/codec.js';
import { ConsensusEngine, type EngineOptions } from '../../src/consensus/engine.js';
import type { WireMessage } from '../../src/consensus/transport.js';
import { TIMING_PROFILES } from '../../src/params.js';
import { Scheduler } from '../../src/sim/scheduler.js';
import type { Address, Block, CommitCertificate, SignedVote, VoteType } from '../../src/types.js';
import { fixture, type Fixture } from './helpers.js';

export interface VoteSpec {
  type: VoteType;
  hash: Uint8Array | null;
  height?: number;
  round?: number;
  chainId?: string;
}

/**
 * One ConsensusEngine (validator 0) on its own Chain, driven by a manual Scheduler clock, with a
 * transport that only records what it sends. The test plays validators 1-3 (real keys) through
 * `deliver`, and builds their blocks on `peer`, a second Chain from the same genesis.
 */
export class EngineHarness {
  readonly f: Fixture = fixture();
  readonly chain: Chain = this.f.open();
  readonly peer: Chain = Chain.open({
    genesis: this.f.genesis,
    path: join(this.f.dir, 'peer.sqlite'),
    now: () => this.f.genesis.genesis_time + 1_000_000,
  });
  readonly sched = new Scheduler(this.f.genesis.genesis_time + 1_000);
  readonly broadcast: WireMessage[] = [];
  readonly sent: Array<{ peer: string; msg: WireMessage }> = [];
  readonly rejects: Array<{ reason: string; from: string | null }> = [];
  readonly commits: Array<{ height: number; round: number; hash: Uint8Array; cert: CommitCertificate }> = [];
  readonly equivocations: Array<{ a: Uint8Array; b: Uint8Array; voter: Address }> = [];
  readonly engine: ConsensusEngine;

  constructor(options: Partial<EngineOptions> = {}) {
    this.engine = new ConsensusEngine(
      { key: this.key(0), timing: TIMING_PROFILES.local, ...options },
      {
        chain: this.chain,
        clock: this.sched.clock(),
        transport: {
          broadcast: (msg) => this.broadcast.push(msg),
          send: (peer, msg) => this.sent.push({ peer, msg }),
          peers: () => ['v1', 'v2', 'v3'],
        },
        events: {
          onReject: (reason, from) => this.rejects.push({ reason, from }),
          onCommit: ({ height, round, hash, cert }) => this.commits.push({ height, round, hash, cert }),
          onEquivocation: (a, b, voter) => this.equivocations.push({ a, b, voter }),
        },
      },
    );
    this.engine.start();
  }

  key(i: number): SigningKey {
    return this.f.validators[i]!;
  }

  addr(i: number): Address {
    return addressFromPublicKey(this.key(i).publicKey);
  }

  /** A block for the next height of `peer`, built by validator i. */
  build(i: number, lastCommit: CommitCertificate | null = null, dt = 0): { block: Block; hash: Uint8Array } {
    return this.peer.buildBlock({
      proposer: this.addr(i),
      round: 0,
      timestamp: this.sched.now() + dt,
      lastCommit,
    });
  }

  proposal(signer: SigningKey, block: Block, round = 0): Uint8Array {
    return encodeSignedProposal(signProposal({ v: 1, block, pol_round: -1, round }, signer));
  }

  vote(signer: SigningKey, s: VoteSpec): Uint8Array {
    return encodeSignedVote(this.signedVote(signer, s));
  }

  signedVote(signer: SigningKey, s: VoteSpec): SignedVote {
    return signVote(
      {
        v: 1,
        chain_id: s.chainId ?? this.f.genesis.chain_id,
        height: s.height ?? 1,
        round: s.round ?? 0,
        type: s.type,
        block_hash: s.hash,
        ranking: [],
      },
      signer,
    );
  }

  deliver(msg: WireMessage, from: string | null = 'v1'): void {
    this.engine.receive(msg, from);
  }

  /** The engine's own block at the current height (it is a builder, so it proposed on start). */
  ownProposalHash(): Uint8Array {
    const p = this.broadcast.find((m) => m.t === 'proposal');
    if (!p || p.t !== 'proposal') throw new Error('engine has not proposed');
    return headerHash(decodeSignedProposal(p.data).proposal.block.header);
  }

  /** Votes this engine broadcast, decoded. */
  ownVotes(type?: VoteType): SignedVote['vote'][] {
    return this.broadcast
      .flatMap((m) => (m.t === 'vote' ? [decodeSignedVote(m.data)] : []))
      .filter((sv) => equalBytes(sv.signer, this.key(0).publicKey))
      .map((sv) => sv.vote)
      .filter((v) => !type || v.type === type);
  }

  votedFor(hash: Uint8Array): boolean {
    return this.ownVotes().some((v) => v.block_hash !== null && equalBytes(v.block_hash, hash));
  }

  /** Runs scheduled events until `done()` holds (or the step budget runs out). */
  runUntil(done: () => boolean, maxSteps = 100): boolean {
    for (let i = 0; i < maxSteps && !done(); i++) if (!this.sched.step()) break;
    return done();
  }

  /** What "nothing changed" means: the engine's position and the committed chain. */
  snapshot(): { height: number; round: number; step: string; locked: boolean; chainHeight: number } {
    return { ...this.engine.status, chainHeight: this.chain.latestHeight() };
  }

  close(): void {
    this.engine.stop();
    this.chain.close();
    this.peer.close();
    rmSync(this.f.dir, { recursive: true, force: true });
  }
}
