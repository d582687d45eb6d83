import { afterEach, describe, expect, it } from 'vitest';
import { topicName } from '../src/p2p/index.js';
import { CHAIN_ID, testNode, voteBytes, waitFor, waitForMesh, type TestNode } from './p2p-helpers.js';

let nodes: TestNode[] = [];

afterEach(async () => {
  await Promise.all(nodes.map((t) => t.node.stop()));
  nodes = [];
});

const fast = { redialBaseMs: 100, redialMaxMs: 400, redialTickMs: 50 };

describe('discovery and reconnection', () => {
  it('connects to peers added from announce records, ignoring unusable records', async () => {
    const a = testNode({}, nodes);
    await a.node.start();
    const b = testNode({ limits: fast }, nodes);
    await b.node.start();
    const addr = a.node.multiaddrs()[0]!;
    const transport = addr.slice(0, addr.indexOf('/p2p/'));
    expect(b.node.addPeerAddresses('not-a-peer-id', [transport])).toBe(false);
    expect(b.node.addPeerAddresses(b.node.peerId, [transport])).toBe(false);
    expect(b.node.addPeerAddresses(a.node.peerId, ['garbage'])).toBe(false);
    // An address naming another peer is not used for this one.
    expect(b.node.addPeerAddresses(a.node.peerId, [`${transport}/p2p/${b.node.peerId}`])).toBe(false);
    expect(b.node.addPeerAddresses(a.node.peerId, [transport])).toBe(true);
    await waitFor(() => b.node.peers().includes(a.node.peerId), 'b to dial the announced peer');
  });

  it('redials a known peer that restarts with the same key', async () => {
    const a1 = testNode({}, nodes);
    await a1.node.start();
    const addr = a1.node.multiaddrs()[0]!;
    const listen = addr.slice(0, addr.indexOf('/p2p/'));
    const b = testNode({ bootstrap: [addr], limits: fast }, nodes);
    await b.node.start();
    await waitFor(() => b.node.peerCount() === 1, 'the first connection');

    await a1.node.stop();
    await waitFor(() => b.node.peerCount() === 0, 'the disconnect');

    // Same identity, same address: b's redial loop finds it again without help.
    const a2 = testNode({ peerKey: a1.peerKey, listen: [listen] }, nodes);
    expect(a2.node.peerId).toBe(a1.node.peerId);
    await a2.node.start();
    await waitFor(() => b.node.peers().includes(a2.node.peerId), 'b to reconnect');
    await waitForMesh([a2, b], topicName(CHAIN_ID, 'vote'));
    a2.node.broadcast({ t: 'vote', data: voteBytes() });
    await waitFor(() => b.received.some((r) => r.msg.t === 'vote'), 'gossip after the restart');
  });

  it('stop is graceful and idempotent, and a stopped node sends nothing', async () => {
    const a = testNode({}, nodes);
    await a.node.start();
    await a.node.start();
    expect(a.node.multiaddrs().length).toBeGreaterThan(0);
    await Promise.all([a.node.stop(), a.node.stop()]);
    await a.node.stop();
    expect(a.node.running).toBe(false);
    expect(a.node.peerCount()).toBe(0);
    expect(a.node.multiaddrs()).toEqual([]);
    a.node.broadcast({ t: 'status', height: 1 });
    a.node.gossipTxs([new Uint8Array([1])]);
  });
});
