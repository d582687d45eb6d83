import {
  Chain,
  encodeSignedProposal,
  encodeSignedTransaction,
  encodeSignedVote,
  makeDevGenesis,
  signProposal,
  signTransaction,
  signVote,
  type WireMessage,
} from '@self/chain';
import { accountKeysFromSeed, addressFromPublicKey, sha512, utf8 } from '@self/crypto';
import { P2PNode, generatePeerKey, type P2PNodeOptions, type RejectReason } from '../src/p2p/index.js';

export const CHAIN_ID = 'self-p2p-test';

/** A P2PNode on 127.0.0.1 (port 0) that records what it delivers and rejects. */
export interface TestNode {
  node: P2PNode;
  received: Array<{ msg: WireMessage; from: string }>;
  rejected: Array<{ reason: RejectReason; peer: string | null }>;
  peerKey: Uint8Array;
}

export function testNode(
  over: Partial<P2PNodeOptions> & { peerKey?: Uint8Array } = {},
  nodes?: TestNode[],
): TestNode {
  const received: TestNode['received'] = [];
  const rejected: TestNode['rejected'] = [];
  const peerKey = over.peerKey ?? generatePeerKey();
  const node = new P2PNode({
    chainId: CHAIN_ID,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    dht: false,
    blocksFrom: () => [],
    latestHeight: () => 0,
    ...over,
    peerKey,
    onMessage: (msg, from) => {
      received.push({ msg, from });
      over.onMessage?.(msg, from);
    },
    onReject: (reason, peer) => {
      rejected.push({ reason, peer });
      over.onReject?.(reason, peer);
    },
  });
  const t = { node, received, rejected, peerKey };
  nodes?.push(t);
  return t;
}

export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until every node sees the others subscribed to `topic` (the gossip mesh is up). */
export async function waitForMesh(
  nodes: TestNode[],
  topic: string,
  peersEach = nodes.length - 1,
): Promise<void> {
  await waitFor(
    () => nodes.every((t) => t.node.libp2p.services.pubsub.getSubscribers(topic).length >= peersEach),
    `gossip subscriptions on ${topic}`,
  );
}

/**
 * Waits until `node`'s gossip mesh for `topic` holds every one of `peers`. Seeing a peer subscribed
 * is not enough: a node forwards only to its mesh, which a subscription joins by GRAFT at the
 * next heartbeat. Until then a relayed message reaches that peer only by the lazy IHAVE path, a
 * heartbeat or more later, which a loaded machine can stretch past a test's wait.
 */
export async function waitForMeshPeers(node: TestNode, topic: string, peers: TestNode[]): Promise<void> {
  await waitFor(() => {
    const mesh = new Set(node.node.libp2p.services.pubsub.getMeshPeers(topic));
    return peers.every((p) => mesh.has(p.node.peerId));
  }, `${peers.length} peer(s) in the gossip mesh on ${topic}`);
}

const validatorKey = accountKeysFromSeed(sha512(utf8('p2p-test-validator')), 'ed25519').account;

/** A genuine signed prevote (nil) for `chainId`. */
export function voteBytes(chainId = CHAIN_ID, round = 0): Uint8Array {
  return encodeSignedVote(
    signVote(
      { v: 1, chain_id: chainId, height: 1, round, type: 'prevote', block_hash: null, ranking: [] },
      validatorKey,
    ),
  );
}

/**
 * A real proposal: a Chain builds block 1 from `txCount` signed transfers in its mempool and a
 * validator signs it. Returns the proposal bytes and the transactions in block order.
 */
export function realProposal(txCount: number): { bytes: Uint8Array; txs: Uint8Array[] } {
  const { genesis, validatorKeys, faucetKey } = makeDevGenesis({
    chainId: CHAIN_ID,
    validators: 1,
    scheme: 'ed25519',
    genesisTime: Date.now() - 60_000,
  });
  const chain = Chain.open({ genesis, path: ':memory:' });
  try {
    const sink = addressFromPublicKey(validatorKeys[0]!.publicKey);
    for (let nonce = 1; nonce <= txCount; nonce++) {
      const tx = signTransaction(
        { v: 1, chain_id: CHAIN_ID, kind: 'transfer', nonce, point_price: 2, body: { to: sink, amount: 1 } },
        faucetKey!,
      );
      chain.submitTransaction(encodeSignedTransaction(tx));
    }
    const { block } = chain.buildBlock({
      proposer: addressFromPublicKey(validatorKeys[0]!.publicKey),
      round: 0,
      timestamp: Date.now(),
      lastCommit: null,
    });
    const bytes = encodeSignedProposal(
      signProposal({ v: 1, block, pol_round: -1, round: 0 }, validatorKeys[0]!),
    );
    return { bytes, txs: block.txs };
  } finally {
    chain.close();
  }
}
