import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  Chain,
  ConsensusEngine,
  LocalTestnet,
  TIMING_PROFILES,
  makeDevGenesis,
  systemClock,
  type Genesis,
} from '@self/chain';
import { accountKeysFromSeed, equalBytes, sha512, utf8 } from '@self/crypto';
import { topicName } from '../src/p2p/index.js';
import { CHAIN_ID, testNode, waitFor, waitForMesh, type TestNode } from './p2p-helpers.js';

let nodes: TestNode[] = [];
let genesis: Genesis;
let blocks: Array<{ block: Uint8Array; cert: Uint8Array }> = [];
const HEIGHT = 4;

beforeAll(async () => {
  // A one-validator chain commits a few real blocks with real certificates.
  const dev = makeDevGenesis({ chainId: CHAIN_ID, validators: 1, scheme: 'ed25519' });
  genesis = dev.genesis;
  const net = new LocalTestnet({ genesis, validatorKeys: dev.validatorKeys, dataDir: ':memory:' });
  net.start();
  try {
    const chain = net.validators[0]!.chain;
    await waitFor(() => chain.latestHeight() >= HEIGHT, 'the local testnet to commit blocks', 30_000);
    blocks = chain.blocksFrom(1, HEIGHT);
  } finally {
    net.stop();
  }
});

afterEach(async () => {
  await Promise.all(nodes.map((t) => t.node.stop()));
  nodes = [];
});

afterAll(() => {
  blocks = [];
});

const serveBlocks = {
  blocksFrom: (from: number, max: number) => blocks.slice(from - 1, from - 1 + max),
  latestHeight: () => blocks.length,
};

describe('block sync', () => {
  it('answers sync requests with what blocksFrom gives, capped', async () => {
    const a = testNode({ ...serveBlocks, limits: { maxSyncBlocks: 3 } }, nodes);
    await a.node.start();
    const b = testNode({ bootstrap: a.node.multiaddrs() }, nodes);
    await b.node.start();
    await waitFor(() => b.node.peerCount() === 1, 'the connection');

    const two = await b.node.requestBlocks(a.node.peerId, 1, 2);
    expect(two.length).toBe(2);
    two.forEach((b, i) => {
      expect(equalBytes(b.block, blocks[i]!.block)).toBe(true);
      expect(equalBytes(b.cert, blocks[i]!.cert)).toBe(true);
    });
    // The server caps the batch at its maxSyncBlocks.
    expect((await b.node.requestBlocks(a.node.peerId, 1, 64)).length).toBe(3);
    expect((await b.node.requestBlocks(a.node.peerId, 3, 64)).length).toBe(2);
    // Nothing past the tip.
    expect(await b.node.requestBlocks(a.node.peerId, HEIGHT + 1, 64)).toEqual([]);
  });

  it("maps the engine's sync-req onto the protocol and feeds sync-res to a real engine", async () => {
    const a = testNode(serveBlocks, nodes);
    await a.node.start();
    const chain = Chain.open({ genesis, path: ':memory:' });
    let engine: ConsensusEngine | null = null;
    const b = testNode(
      {
        bootstrap: a.node.multiaddrs(),
        blocksFrom: (from, max) => chain.blocksFrom(from, max),
        latestHeight: () => chain.latestHeight(),
        onMessage: (msg, from) => engine?.receive(msg, from),
      },
      nodes,
    );
    // A follower (not a validator) of the same chain, using libp2p as its transport.
    engine = new ConsensusEngine(
      {
        key: accountKeysFromSeed(sha512(utf8('p2p-follower')), 'ed25519').account,
        timing: TIMING_PROFILES.local,
      },
      { chain, transport: b.node, clock: systemClock },
    );
    try {
      await b.node.start();
      engine.start();
      await waitForMesh([a, b], topicName(CHAIN_ID, 'block'));
      // a announces its height; b's engine asks a for blocks and commits them after verifying.
      a.node.broadcast({ t: 'status', height: HEIGHT });
      await waitFor(() => chain.latestHeight() === HEIGHT, 'b to catch up by sync');
      // The very blocks a committed, certificates included.
      chain
        .blocksFrom(1, HEIGHT)
        .forEach((got, i) => expect(equalBytes(got.block, blocks[i]!.block)).toBe(true));
      const synced = b.received.filter((r) => r.msg.t === 'sync-res');
      expect(synced.length).toBeGreaterThan(0);
      expect(synced[0]!.from).toBe(a.node.peerId);
      await waitFor(() => !b.node.syncing, 'syncing to clear');
    } finally {
      engine.stop();
      await b.node.stop();
      chain.close();
    }
  });
});
