import { equalBytes, toHex } from '@self/crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  decodeSignedProposal,
  decodeSignedVote,
  encodeBlock,
  encodeCommitCertificate,
  encodeSignedVote,
  headerHash,
} from '../../src/codec.js';
import type { Block } from '../../src/types.js';
import { EngineHarness } from './engine-harness.js';
import { certify, transfer } from './helpers.js';

let h: EngineHarness;
beforeEach(() => {
  h = new EngineHarness();
});
afterEach(() => h.close());

const reasons = (): string[] => h.rejects.map((r) => r.reason);

/** Delivers one message and returns the reasons it was rejected with. */
function rejectsOf(msg: Parameters<EngineHarness['deliver']>[0], from: string | null = 'v1'): string[] {
  const before = h.rejects.length;
  h.deliver(msg, from);
  return h.rejects.slice(before).map((r) => r.reason);
}

describe('ConsensusEngine: bad input is rejected and changes nothing', () => {
  it('starts at height 1, round 0, having proposed its own block', () => {
    expect(h.snapshot()).toEqual({ height: 1, round: 0, step: 'propose', locked: false, chainHeight: 0 });
    expect(h.ownProposalHash()).toHaveLength(32);
    expect(h.rejects).toEqual([]);
  });

  it('rejects undecodable proposal and vote bytes as malformed or non_canonical', () => {
    const before = h.snapshot();
    expect(rejectsOf({ t: 'proposal', data: new Uint8Array([0xff, 0x00, 0x13]) })).toEqual(['malformed']);
    expect(rejectsOf({ t: 'vote', data: new Uint8Array([0xff, 0x00, 0x13]) })).toEqual(['malformed']);
    // The integer 1 in a two-byte form: well-formed CBOR, not the canonical encoding.
    expect(rejectsOf({ t: 'vote', data: new Uint8Array([0x18, 0x01]) })).toEqual(['non_canonical']);
    expect(rejectsOf({ t: 'proposal', data: new Uint8Array([0x18, 0x01]) })).toEqual(['non_canonical']);
    expect(h.rejects.every((r) => r.from === 'v1')).toBe(true);
    expect(h.snapshot()).toEqual(before);
    expect(h.ownVotes()).toEqual([]);
  });

  it('rejects votes for another chain, from an outsider, or with a tampered signature, and does not count them', () => {
    const own = h.ownProposalHash();
    const before = h.snapshot();
    const pc = { type: 'precommit' as const, hash: own };
    expect(rejectsOf({ t: 'vote', data: h.vote(h.key(1), { ...pc, chainId: 'other-chain-1' }) })).toEqual([
      'wrong_chain',
    ]);
    expect(rejectsOf({ t: 'vote', data: h.vote(h.f.outsider, pc) })).toEqual(['not_validator']);
    const sv = h.signedVote(h.key(1), pc);
    const sig = new Uint8Array(sv.sig);
    sig[0]! ^= 0x01;
    expect(rejectsOf({ t: 'vote', data: encodeSignedVote({ ...sv, sig }) })).toEqual(['bad_signature']);
    expect(h.snapshot()).toEqual(before);

    // None of them counted: two honest precommits are still one short of the quorum (3 of 4)...
    h.deliver({ t: 'vote', data: h.vote(h.key(2), pc) }, 'v2');
    h.deliver({ t: 'vote', data: h.vote(h.key(3), pc) }, 'v3');
    expect(h.commits).toEqual([]);
    expect(h.chain.latestHeight()).toBe(0);
    // ...and validator 1's genuine precommit is still accepted after its tampered copy.
    h.deliver({ t: 'vote', data: encodeSignedVote(sv) }, 'v1');
    expect(h.commits.map((c) => [c.height, toHex(c.hash)])).toEqual([[1, toHex(own)]]);
    expect(reasons()).toEqual(['wrong_chain', 'not_validator', 'bad_signature']);
  });

  it('parks a vote for an unseen block (unknown_proposal) and counts it once the proposal arrives', () => {
    const { block, hash } = h.build(1);
    for (const i of [1, 2, 3]) {
      expect(rejectsOf({ t: 'vote', data: h.vote(h.key(i), { type: 'precommit', hash }) }, `v${i}`)).toEqual([
        'unknown_proposal',
      ]);
    }
    expect(h.commits).toEqual([]);
    expect(h.snapshot()).toEqual({ height: 1, round: 0, step: 'propose', locked: false, chainHeight: 0 });

    // The proposal releases the three parked precommits: a quorum, so the block commits at once.
    expect(rejectsOf({ t: 'proposal', data: h.proposal(h.key(1), block) })).toEqual([]);
    expect(h.commits).toHaveLength(1);
    expect(h.commits[0]!.height).toBe(1);
    expect(toHex(h.commits[0]!.hash)).toBe(toHex(hash));
    expect(h.commits[0]!.cert.votes).toHaveLength(3);
    expect(toHex(h.chain.latestHash())).toBe(toHex(hash));
  });

  it('rejects a proposal signed by a non-builder and never votes for it', () => {
    const { block, hash } = h.build(1);
    expect(rejectsOf({ t: 'proposal', data: h.proposal(h.f.outsider, block) })).toEqual(['not_validator']);
    expect(h.snapshot()).toEqual({ height: 1, round: 0, step: 'propose', locked: false, chainHeight: 0 });
    // The block was not kept: a vote naming it is for an unknown proposal.
    expect(rejectsOf({ t: 'vote', data: h.vote(h.key(2), { type: 'prevote', hash }) }, 'v2')).toEqual([
      'unknown_proposal',
    ]);
    // At the propose timeout it prevotes for the only valid proposal: its own.
    expect(h.runUntil(() => h.engine.status.step === 'prevote')).toBe(true);
    const [prevote] = h.ownVotes('prevote');
    expect(toHex(prevote!.block_hash!)).toBe(toHex(h.ownProposalHash()));
    expect(prevote!.ranking.map(toHex)).toEqual([toHex(h.ownProposalHash())]);
    expect(h.votedFor(hash)).toBe(false);
  });

  it('does not prevote for a proposal that claims an inflated efficiency', () => {
    const honest = [h.build(1), h.build(2)];
    const built = h.build(3);
    const inflated: Block = {
      ...built.block,
      header: { ...built.block.header, efficiency: built.block.header.efficiency + 10_000 },
    };
    const inflatedHash = headerHash(inflated.header);
    h.deliver({ t: 'proposal', data: h.proposal(h.key(1), honest[0]!.block) }, 'v1');
    h.deliver({ t: 'proposal', data: h.proposal(h.key(2), honest[1]!.block) }, 'v2');
    h.deliver({ t: 'proposal', data: h.proposal(h.key(3), inflated) }, 'v3');

    // All four builders have proposed, so it prevoted at once, after fully checking each block.
    expect(h.engine.status.step).toBe('prevote');
    expect(reasons()).toEqual(['invalid_block:invalid_efficiency']);
    const [prevote] = h.ownVotes('prevote');
    const valid = [h.ownProposalHash(), honest[0]!.hash, honest[1]!.hash].map(toHex);
    expect(prevote!.block_hash).not.toBeNull();
    expect(valid).toContain(toHex(prevote!.block_hash!));
    expect(prevote!.ranking.map(toHex).sort()).toEqual([...valid].sort());
    expect(prevote!.ranking.map(toHex)).not.toContain(toHex(inflatedHash));
    expect(h.votedFor(inflatedHash)).toBe(false);
    expect(h.chain.latestHeight()).toBe(0);
  });

  it('rejects a block whose body does not match its header (invalid_block)', () => {
    const { block, hash } = h.build(1);
    const before = h.snapshot();
    const forged: Block = { ...block, txs: [transfer(h.f, 1, h.addr(2), 10)] };
    expect(rejectsOf({ t: 'proposal', data: h.proposal(h.key(1), forged) })).toEqual(['invalid_block']);
    expect(h.snapshot()).toEqual(before);
    // Not kept under its header hash either.
    expect(rejectsOf({ t: 'vote', data: h.vote(h.key(2), { type: 'prevote', hash }) }, 'v2')).toEqual([
      'unknown_proposal',
    ]);
    expect(h.votedFor(hash)).toBe(false);
  });
});

describe('ConsensusEngine: equivocation and replay', () => {
  it('reports two different prevotes from one validator in one round as an equivocation', () => {
    const own = h.ownProposalHash();
    const a = h.vote(h.key(1), { type: 'prevote', hash: null });
    const b = h.vote(h.key(1), { type: 'prevote', hash: own });
    expect(rejectsOf({ t: 'vote', data: a })).toEqual([]);
    expect(rejectsOf({ t: 'vote', data: b })).toEqual(['equivocation']);
    expect(h.equivocations).toHaveLength(1);
    const [e] = h.equivocations;
    expect(toHex(e!.a)).toBe(toHex(a));
    expect(toHex(e!.b)).toBe(toHex(b));
    expect(e!.voter).toBe(h.addr(1));
    expect(h.snapshot()).toEqual({ height: 1, round: 0, step: 'propose', locked: false, chainHeight: 0 });
  });

  it('reports an equivocation whose second vote names a block this node never saw, once', () => {
    const own = h.ownProposalHash();
    const phantom = new Uint8Array(32).fill(7);
    const a = h.vote(h.key(1), { type: 'prevote', hash: own });
    const b = h.vote(h.key(1), { type: 'prevote', hash: phantom });
    expect(rejectsOf({ t: 'vote', data: a })).toEqual([]);
    // Still parked (the block is unknown), but two signed votes are proof enough.
    expect(rejectsOf({ t: 'vote', data: b })).toEqual(['equivocation']);
    // A copy of it is only an unknown-block vote again, not a second report.
    expect(rejectsOf({ t: 'vote', data: b })).toEqual(['unknown_proposal']);
    expect(h.equivocations).toHaveLength(1);
    expect(toHex(h.equivocations[0]!.a)).toBe(toHex(a));
    expect(toHex(h.equivocations[0]!.b)).toBe(toHex(b));
    // The first vote was for a phantom, the second for a real block: caught the other way round too.
    const c = h.vote(h.key(2), { type: 'precommit', hash: phantom });
    const d = h.vote(h.key(2), { type: 'precommit', hash: own });
    expect(rejectsOf({ t: 'vote', data: c })).toEqual(['unknown_proposal']);
    expect(rejectsOf({ t: 'vote', data: d })).toEqual(['equivocation']);
    expect(h.equivocations.map((e) => e.voter)).toEqual([h.addr(1), h.addr(2)]);
  });

  it('counts a vote delivered five times once', () => {
    const own = h.ownProposalHash();
    const pc1 = h.vote(h.key(1), { type: 'precommit', hash: own });
    for (let i = 0; i < 5; i++) h.deliver({ t: 'vote', data: pc1 }, 'v1');
    expect(h.commits).toEqual([]);
    expect(h.rejects).toEqual([]);
    // One more distinct voter makes two: still below the quorum of three.
    h.deliver({ t: 'vote', data: h.vote(h.key(2), { type: 'precommit', hash: own }) }, 'v2');
    expect(h.commits).toEqual([]);
    expect(h.snapshot()).toEqual({ height: 1, round: 0, step: 'propose', locked: false, chainHeight: 0 });
    h.deliver({ t: 'vote', data: h.vote(h.key(3), { type: 'precommit', hash: own }) }, 'v3');
    expect(h.commits).toHaveLength(1);
    const signers = h.commits[0]!.cert.votes.map((v) => toHex(decodeSignedVote(v).signer));
    expect(new Set(signers).size).toBe(3);
  });
});

describe('ConsensusEngine: rounds after a failed one', () => {
  it('re-proposes the block it built for two more rounds, then builds a new one', () => {
    const proposals = (): Array<[number, string]> =>
      h.broadcast.flatMap((m) => {
        if (m.t !== 'proposal') return [];
        const sp = decodeSignedProposal(m.data);
        return [[sp.proposal.round, toHex(headerHash(sp.proposal.block.header))] as [number, string]];
      });
    const first = toHex(h.ownProposalHash());
    // Validators 1 and 2 (f+1) are already in the next round: the engine skips to it.
    for (const round of [1, 2, 3]) {
      for (const i of [1, 2])
        h.deliver({ t: 'vote', data: h.vote(h.key(i), { type: 'prevote', hash: null, round }) }, `v${i}`);
      expect(h.engine.status.round).toBe(round);
    }
    const byRound = new Map(proposals());
    expect([0, 1, 2].map((r) => byRound.get(r))).toEqual([first, first, first]);
    // Three rounds after it was built, the builder builds anew (a later timestamp: another block).
    expect(byRound.get(3)).toBeDefined();
    expect(byRound.get(3)).not.toBe(first);
    expect(h.rejects).toEqual([]);
  });
});

describe('ConsensusEngine: happy path', () => {
  it('prevotes, precommits and commits height 1 with votes from validators 1-3', () => {
    for (const i of [1, 2, 3])
      h.deliver({ t: 'proposal', data: h.proposal(h.key(i), h.build(i).block) }, `v${i}`);
    expect(h.engine.status.step).toBe('prevote');
    const target = h.ownVotes('prevote')[0]!.block_hash!;
    expect(target).not.toBeNull();
    expect(h.ownVotes('prevote')[0]!.ranking).toHaveLength(4);

    for (const i of [1, 2, 3])
      h.deliver({ t: 'vote', data: h.vote(h.key(i), { type: 'prevote', hash: target }) }, `v${i}`);
    expect(h.engine.status).toMatchObject({ step: 'precommit', locked: true });
    for (const i of [1, 2, 3])
      h.deliver({ t: 'vote', data: h.vote(h.key(i), { type: 'precommit', hash: target }) }, `v${i}`);

    expect(h.rejects).toEqual([]);
    expect(h.commits.map((c) => [c.height, c.round, toHex(c.hash)])).toEqual([[1, 0, toHex(target)]]);
    expect(h.chain.latestHeight()).toBe(1);
    expect(toHex(h.chain.latestHash())).toBe(toHex(target));
    const cert = h.commits[0]!.cert;
    expect(cert.votes.length).toBeGreaterThanOrEqual(3);
    for (const v of cert.votes) expect(equalBytes(decodeSignedVote(v).vote.block_hash!, target)).toBe(true);
    const own = h.ownVotes().map((v) => [v.type, v.height, v.round, toHex(v.block_hash!)]);
    expect(own).toEqual([
      ['prevote', 1, 0, toHex(target)],
      ['precommit', 1, 0, toHex(target)],
    ]);
    // After the commit pause it moves on to height 2.
    expect(h.runUntil(() => h.engine.status.height === 2)).toBe(true);
    expect(h.engine.status).toMatchObject({ height: 2, round: 0, step: 'propose' });
  });
});

describe('ConsensusEngine: empty blocks wait (emptyBlockWaitMs)', () => {
  /** Commits height 1 on `e` with validators 1-3 and returns the (scheduler) time of the commit. */
  function commitHeight1(e: EngineHarness): number {
    for (const i of [1, 2, 3])
      e.deliver({ t: 'proposal', data: e.proposal(e.key(i), e.build(i).block) }, `v${i}`);
    const target = e.ownVotes('prevote')[0]!.block_hash!;
    for (const type of ['prevote', 'precommit'] as const)
      for (const i of [1, 2, 3])
        e.deliver({ t: 'vote', data: e.vote(e.key(i), { type, hash: target }) }, `v${i}`);
    expect(e.chain.latestHeight()).toBe(1);
    return e.sched.now();
  }

  let w: EngineHarness;
  beforeEach(() => {
    w = new EngineHarness({ emptyBlockWaitMs: 2_000 });
  });
  afterEach(() => w.close());

  it('with an empty mempool, starts the next height only after the wait', () => {
    const committedAt = commitHeight1(w);
    expect(w.runUntil(() => w.engine.status.height === 2)).toBe(true);
    expect(w.sched.now() - committedAt).toBe(2_000);
  });

  it('a transaction ends the wait: the next height starts after the profile commit pause', () => {
    const committedAt = commitHeight1(w);
    w.chain.submitTransaction(transfer(w.f, 1, w.addr(1), 5));
    w.engine.nudge();
    expect(w.runUntil(() => w.engine.status.height === 2)).toBe(true);
    expect(w.sched.now() - committedAt).toBe(100);
  });

  it("a peer's message for the next height ends the wait too", () => {
    const committedAt = commitHeight1(w);
    w.deliver({ t: 'vote', data: w.vote(w.key(1), { type: 'prevote', height: 2, hash: null }) }, 'v1');
    expect(w.runUntil(() => w.engine.status.height === 2)).toBe(true);
    expect(w.sched.now() - committedAt).toBe(100);
  });
});

describe('ConsensusEngine: future heights and sync', () => {
  /** Block 1 built and certified on the peer chain, which then commits it. */
  function block1(signers = [1, 2, 3]) {
    const { block, hash } = h.build(1);
    const cert = certify(
      block,
      hash,
      signers.map((i) => h.key(i)),
    );
    return { block, hash, cert, item: { block: encodeBlock(block), cert: encodeCommitCertificate(cert) } };
  }

  it('buffers messages of the next height, asks for sync, and commits a certified sync response', () => {
    const b1 = block1();
    h.peer.commit(b1.block, b1.hash, b1.cert);
    const b2 = h.build(1, b1.cert, 1);
    const before = h.snapshot();
    h.deliver({ t: 'proposal', data: h.proposal(h.key(1), b2.block) }, 'v1');
    for (const i of [1, 2, 3]) {
      h.deliver(
        { t: 'vote', data: h.vote(h.key(i), { type: 'precommit', hash: b2.hash, height: 2 }) },
        `v${i}`,
      );
    }
    expect(h.rejects).toEqual([]);
    expect(h.snapshot()).toEqual(before);
    expect(h.commits).toEqual([]);
    // One sync request (rate-limited), to the peer that showed the later height, from height 1.
    expect(h.sent).toEqual([{ peer: 'v1', msg: { t: 'sync-req', from: 1 } }]);

    h.deliver({ t: 'sync-res', blocks: [b1.item] }, 'v1');
    expect(h.rejects).toEqual([]);
    // Block 1 from sync, then block 2 at once from the buffered proposal and precommits.
    expect(h.commits.map((c) => [c.height, toHex(c.hash)])).toEqual([
      [1, toHex(b1.hash)],
      [2, toHex(b2.hash)],
    ]);
    expect(h.chain.latestHeight()).toBe(2);
    expect(toHex(h.chain.stateRoot())).toBe(toHex(b2.block.header.state_root));
  });

  it('rejects a sync response whose certificate has only 2 of 4 votes', () => {
    const b1 = block1([1, 2]);
    h.deliver({ t: 'vote', data: h.vote(h.key(1), { type: 'prevote', hash: null, height: 2 }) }, 'v1');
    expect(h.sent.map((s) => s.msg.t)).toEqual(['sync-req']);
    const before = h.snapshot();
    expect(rejectsOf({ t: 'sync-res', blocks: [b1.item] })).toEqual(['invalid_certificate']);
    expect(h.commits).toEqual([]);
    expect(h.snapshot()).toEqual(before);
    expect(h.chain.latestHeight()).toBe(0);
  });
});
