import { afterEach, describe, expect, it } from 'vitest';
import { decodeSignedProposal, encodeSignedProposal } from '@self/chain';
import { equalBytes, sha256, toHex } from '@self/crypto';
import { compactProposal, encodeGossip, rebuildProposal, topicName } from '../src/p2p/index.js';
import { CHAIN_ID, realProposal, testNode, waitFor, waitForMesh, type TestNode } from './p2p-helpers.js';

let nodes: TestNode[] = [];

afterEach(async () => {
  await Promise.all(nodes.map((t) => t.node.stop()));
  nodes = [];
});

const proposals = (t: TestNode): Uint8Array[] =>
  t.received.flatMap((r) => (r.msg.t === 'proposal' ? [r.msg.data] : []));

describe('compact proposals', () => {
  it('compacts to digests and rebuilds the exact bytes', () => {
    const { bytes, txs } = realProposal(12);
    expect(txs.length).toBe(12);
    const split = compactProposal(bytes)!;
    expect(split.txs).toEqual(txs);
    expect(split.compact.digests.map(toHex)).toEqual(txs.map((t) => toHex(sha256(t))));
    expect(encodeGossip(split.compact).length).toBeLessThan(bytes.length);
    const rebuilt = rebuildProposal(split.compact.skeleton, txs);
    expect(equalBytes(rebuilt, bytes)).toBe(true);
    // The same bytes the codec produces for the decoded proposal.
    expect(equalBytes(encodeSignedProposal(decodeSignedProposal(rebuilt)), bytes)).toBe(true);
    // A proposal without transactions, or garbage, is not compacted.
    expect(compactProposal(new Uint8Array([1, 2, 3]))).toBeNull();
  });

  it('rebuilds from transactions the receiver holds, and fetches the missing ones', async () => {
    const { bytes, txs } = realProposal(20);
    // b already has the first half (its mempool); the rest it must fetch from a.
    const known = new Map(txs.slice(0, 10).map((t) => [toHex(sha256(t)), t]));
    const a = testNode({}, nodes);
    await a.node.start();
    const b = testNode({ bootstrap: a.node.multiaddrs(), lookupTx: (d) => known.get(d) }, nodes);
    // c has every transaction: nothing to fetch.
    const all = new Map(txs.map((t) => [toHex(sha256(t)), t]));
    const c = testNode({ bootstrap: a.node.multiaddrs(), lookupTx: (d) => all.get(d) }, nodes);
    await Promise.all([b.node.start(), c.node.start()]);
    await waitForMesh([a, b, c], topicName(CHAIN_ID, 'proposal'), 1);

    a.node.broadcast({ t: 'proposal', data: bytes });
    for (const t of [b, c]) await waitFor(() => proposals(t).length > 0, 'the rebuilt proposal');
    for (const t of [b, c]) {
      expect(equalBytes(proposals(t)[0]!, bytes)).toBe(true);
      expect(t.received.find((r) => r.msg.t === 'proposal')!.from).toBe(a.node.peerId);
      expect(t.rejected).toEqual([]);
    }
  });

  it('fetches the full proposal by digest when the sender cannot serve the transactions', async () => {
    const { bytes } = realProposal(6);
    // a keeps no transactions (tiny cache, no mempool lookup), only its recent proposals.
    const a = testNode({ limits: { txCacheBytes: 1 } }, nodes);
    await a.node.start();
    const b = testNode({ bootstrap: a.node.multiaddrs() }, nodes);
    await b.node.start();
    await waitForMesh([a, b], topicName(CHAIN_ID, 'proposal'));
    a.node.broadcast({ t: 'proposal', data: bytes });
    await waitFor(() => proposals(b).length > 0, 'the proposal');
    expect(equalBytes(proposals(b)[0]!, bytes)).toBe(true);
    expect(b.rejected).toEqual([]);
  });

  it('a relay forwards a compact proposal only after rebuilding it, so the next hop can fetch from it', async () => {
    const { bytes } = realProposal(8);
    // a - b - c in a line: c never talks to the builder a.
    const b = testNode({}, nodes);
    await b.node.start();
    const a = testNode({ bootstrap: b.node.multiaddrs() }, nodes);
    const c = testNode({ bootstrap: b.node.multiaddrs() }, nodes);
    await Promise.all([a.node.start(), c.node.start()]);
    await waitForMesh([a, c], topicName(CHAIN_ID, 'proposal'), 1);
    await waitForMesh([b], topicName(CHAIN_ID, 'proposal'), 2);
    expect(c.node.peers()).toEqual([b.node.peerId]);

    a.node.broadcast({ t: 'proposal', data: bytes });
    await waitFor(() => proposals(c).length > 0, 'the proposal two hops away');
    expect(equalBytes(proposals(c)[0]!, bytes)).toBe(true);
    // The relay b handed it over, but the builder a signed it: a is answerable for its content.
    expect(c.received.find((r) => r.msg.t === 'proposal')!.from).toBe(a.node.peerId);

    // Rebroadcasts of the same proposal are served from the cache, byte for byte.
    a.node.broadcast({ t: 'proposal', data: bytes });
    await waitFor(() => proposals(c).length > 1, 'the rebroadcast');
    expect(equalBytes(proposals(c)[1]!, bytes)).toBe(true);

    // The full proposal can also be fetched by digest from any node that rebuilt it.
    const full = await c.node.fetchProposal(b.node.peerId, sha256(bytes));
    expect(full && equalBytes(full, bytes)).toBe(true);
    expect(await c.node.fetchProposal(b.node.peerId, new Uint8Array(32))).toBeNull();
  });
});
