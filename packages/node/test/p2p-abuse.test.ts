import { afterEach, describe, expect, it } from 'vitest';
import { encode } from '@self/chain';
import { topicName } from '../src/p2p/index.js';
import { CHAIN_ID, sleep, testNode, voteBytes, waitFor, waitForMesh, type TestNode } from './p2p-helpers.js';

let nodes: TestNode[] = [];

afterEach(async () => {
  await Promise.all(nodes.map((t) => t.node.stop()));
  nodes = [];
});

const VOTE = topicName(CHAIN_ID, 'vote');

async function pair(victimLimits = {}): Promise<{ a: TestNode; m: TestNode }> {
  const a = testNode({ limits: victimLimits }, nodes);
  await a.node.start();
  const m = testNode({ bootstrap: a.node.multiaddrs() }, nodes);
  await m.node.start();
  await waitForMesh([a, m], VOTE);
  return { a, m };
}

/** Publishes raw bytes as the attacker, past its own node's checks. */
const raw = (m: TestNode, topic: string, bytes: Uint8Array): Promise<unknown> =>
  m.node.libp2p.services.pubsub.publish(topic, bytes);

const reasons = (t: TestNode): string[] => t.rejected.map((r) => r.reason);

describe('gossip validation, scoring and flood protection', () => {
  it('rejects malformed, oversized and wrong-chain messages with reasons, and the sender loses score', async () => {
    const { a, m } = await pair();
    m.node.broadcast({ t: 'vote', data: voteBytes() });
    await waitFor(() => a.received.length === 1, 'the valid vote');
    expect(a.node.peerScore(m.node.peerId)).toBeGreaterThanOrEqual(0);

    await raw(m, VOTE, new Uint8Array([0xff, 0x00, 0x13]));
    await raw(m, VOTE, encode({ t: 'txs', data: [new Uint8Array([1])] }));
    await raw(m, VOTE, encode({ t: 'vote', data: new Uint8Array(70 * 1024) }));
    await raw(m, VOTE, encode({ t: 'vote', data: voteBytes('another-chain') }));
    await raw(m, topicName(CHAIN_ID, 'block'), encode({ t: 'status', height: -5 }));
    await waitFor(() => a.rejected.length >= 5, 'five rejections');
    expect(reasons(a).sort()).toEqual(['malformed', 'malformed', 'malformed', 'oversized', 'wrong_chain']);
    expect(a.rejected.every((r) => r.peer === m.node.peerId)).toBe(true);
    // Nothing more was delivered, and gossipsub's score of the sender went negative.
    expect(a.received.length).toBe(1);
    await waitFor(() => a.node.peerScore(m.node.peerId) < 0, 'the score to drop');
  });

  it('rate-limits a flooding peer', async () => {
    const { a, m } = await pair({ msgRatePerSec: 5, msgBurst: 10 });
    for (let round = 0; round < 40; round++)
      m.node.broadcast({ t: 'vote', data: voteBytes(CHAIN_ID, round) });
    await waitFor(() => a.received.length + a.rejected.length >= 40, 'every message to be judged');
    const limited = a.rejected.filter((r) => r.reason === 'rate_limited');
    expect(limited.length).toBeGreaterThan(0);
    expect(a.received.length).toBeLessThan(40);
    expect(a.received.length + limited.length).toBe(40);
    expect(a.node.penaltyPoints(m.node.peerId)).toBeGreaterThan(0);
  });

  it('rate-limits requests on the request/response protocols', async () => {
    const { a, m } = await pair({ reqRatePerSec: 1, reqBurst: 2 });
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, () => m.node.requestBlocks(a.node.peerId, 1, 1)),
    );
    expect(results.filter((r) => r.status === 'fulfilled').length).toBeLessThanOrEqual(3);
    expect(results.some((r) => r.status === 'rejected')).toBe(true);
    await waitFor(() => reasons(a).includes('rate_limited'), 'a rate_limited rejection');
  });

  it('bans a peer whose penalties pass the threshold: disconnected and refused', async () => {
    const { a, m } = await pair();
    a.node.penalize(m.node.peerId, 'bad_signature');
    expect(a.node.isBanned(m.node.peerId)).toBe(false);
    expect(a.node.penaltyPoints(m.node.peerId)).toBeGreaterThan(0);
    a.node.penalize(m.node.peerId, 'equivocation');
    a.node.penalize(m.node.peerId, 'invalid_block');
    // Points decay a little between calls: one more fault passes 100 for sure.
    a.node.penalize(m.node.peerId, 'invalid_certificate');
    expect(a.node.isBanned(m.node.peerId)).toBe(true);
    await waitFor(() => a.node.peerCount() === 0, 'the banned peer to be disconnected');
    await m.node.dial(a.node.multiaddrs()[0]!).catch(() => undefined);
    await sleep(300);
    expect(a.node.peers()).not.toContain(m.node.peerId);
  });
});
