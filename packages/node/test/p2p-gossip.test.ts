import { afterEach, describe, expect, it } from 'vitest';
import { equalBytes } from '@self/crypto';
import { topicName } from '../src/p2p/index.js';
import {
  CHAIN_ID,
  testNode,
  voteBytes,
  waitFor,
  waitForMesh,
  waitForMeshPeers,
  type TestNode,
} from './p2p-helpers.js';

let nodes: TestNode[] = [];

afterEach(async () => {
  await Promise.all(nodes.map((t) => t.node.stop()));
  nodes = [];
});

describe('gossip over libp2p', () => {
  it('three nodes joined through a bootstrap peer deliver votes, tx batches and status', async () => {
    const a = testNode({ dht: true }, nodes);
    await a.node.start();
    const boot = a.node.multiaddrs();
    expect(boot[0]).toContain(`/p2p/${a.node.peerId}`);
    const b = testNode({ bootstrap: boot, dht: true }, nodes);
    const c = testNode({ bootstrap: boot, dht: true }, nodes);
    await Promise.all([b.node.start(), c.node.start()]);
    await waitFor(() => a.node.peerCount() === 2, 'both peers to reach the bootstrap node');
    // b and c know each other only through a: gossip must still reach them all.
    await waitForMesh([a, b, c], topicName(CHAIN_ID, 'vote'), 1);
    await waitForMesh([a, b, c], topicName(CHAIN_ID, 'tx'), 1);
    await waitForMesh([a, b, c], topicName(CHAIN_ID, 'block'), 1);
    // The bootstrap node relays between b and c: both must be in its mesh, and it in theirs,
    // before anything is sent (a node forwards only to its mesh; under load a peer can be known
    // as subscribed a heartbeat before it is grafted, and then only gossip's lazy IHAVE path,
    // heartbeats later, would deliver).
    for (const topic of ['vote', 'tx', 'block'] as const) {
      const name = topicName(CHAIN_ID, topic);
      await waitForMeshPeers(a, name, [b, c]);
      await waitForMeshPeers(b, name, [a]);
      await waitForMeshPeers(c, name, [a]);
    }

    const vote = voteBytes();
    b.node.broadcast({ t: 'vote', data: vote });
    const txs = [new Uint8Array([1, 2, 3]), new Uint8Array([4, 5])];
    c.node.gossipTxs(txs);
    a.node.broadcast({ t: 'status', height: 7 });

    for (const t of [a, c])
      await waitFor(() => t.received.some((r) => r.msg.t === 'vote'), 'the vote everywhere');
    for (const t of [a, b])
      await waitFor(() => t.received.some((r) => r.msg.t === 'txs'), 'the tx batch everywhere');
    for (const t of [b, c])
      await waitFor(() => t.received.some((r) => r.msg.t === 'status'), 'the status everywhere');

    const gotVote = c.received.find((r) => r.msg.t === 'vote')!;
    expect(gotVote.msg.t === 'vote' && equalBytes(gotVote.msg.data, vote)).toBe(true);
    const gotTxs = a.received.find((r) => r.msg.t === 'txs')!;
    expect(gotTxs.msg).toEqual({ t: 'txs', data: txs });
    expect(gotTxs.from).toBe(c.node.peerId);
    expect(b.received.find((r) => r.msg.t === 'status')!.msg).toEqual({ t: 'status', height: 7 });
    // Nobody hears its own messages, and nothing was rejected.
    expect(b.received.some((r) => r.msg.t === 'vote')).toBe(false);
    expect([a, b, c].flatMap((t) => t.rejected)).toEqual([]);
    // A node's peer height comes from status gossip; b is at 0 and 7 is ahead.
    expect(b.node.bestPeerHeight()).toBe(7);
    expect(b.node.syncing).toBe(true);
  });

  it('batches many transactions into few gossip messages', async () => {
    const a = testNode({}, nodes);
    await a.node.start();
    const b = testNode({ bootstrap: a.node.multiaddrs() }, nodes);
    await b.node.start();
    await waitForMesh([a, b], topicName(CHAIN_ID, 'tx'));
    const txs = Array.from({ length: 1000 }, (_, i) => new Uint8Array([i & 0xff, i >> 8, 7, 7, 7]));
    for (const tx of txs) a.node.gossipTxs([tx]);
    const count = (): number =>
      b.received.reduce((n, r) => n + (r.msg.t === 'txs' ? r.msg.data.length : 0), 0);
    await waitFor(() => count() === 1000, 'all transactions');
    const batches = b.received.filter((r) => r.msg.t === 'txs');
    // Flushes at 256 transactions: 1000 take 4 messages.
    expect(batches.length).toBe(4);
    const all = batches.flatMap((r) => (r.msg.t === 'txs' ? r.msg.data : []));
    expect(all.every((tx, i) => equalBytes(tx, txs[i]!))).toBe(true);

    // Messages above gossipsub's default 1 MiB limit get through: a largest (1 MiB) transaction
    // makes a batch of its own, a little over 1 MiB with framing.
    const big = Array.from({ length: 3 }, (_, i) => new Uint8Array(1024 * 1024).fill(i + 1));
    a.node.gossipTxs(big);
    await waitFor(() => count() === 1003, 'the big transactions');
  });
});
