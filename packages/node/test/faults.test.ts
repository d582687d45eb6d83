import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertNoFork, waitFor, waitForHeight, type NodeProcess } from '../src/testing/node-process.js';
import { freePorts } from '../src/index.js';
import { makeTestnet, type ProcessTestnet } from './harness/testnet.js';

/**
 * Crash faults with real processes: four `self node` validators from `self testnet init`, killed
 * with SIGKILL and restarted from their homes, plus a node that joins mid-chain.
 */
describe('four self node processes under crash faults', () => {
  let net: ProcessTestnet;
  let n: NodeProcess[];

  beforeAll(async () => {
    net = await makeTestnet(4, { chainId: 'self-faults-1' });
    n = net.nodes;
    await Promise.all(n.map((p) => p.start()));
  }, 120_000);

  afterAll(async () => {
    await net?.cleanup();
  });

  it('form a network that commits blocks with one hash per height', async () => {
    await waitForHeight(n, 3);
    const status = await n[0]!.get<{ chain_id: string; node_info: { peer_count: number } }>('/v1/status');
    expect(status.chain_id).toBe('self-faults-1');
    expect(status.node_info.peer_count).toBeGreaterThanOrEqual(3);
    expect(await assertNoFork(n)).toBeGreaterThanOrEqual(3);
  }, 180_000);

  let heightAtFirstCrash = 0;
  it('keep committing after one validator is killed', async () => {
    heightAtFirstCrash = await n[3]!.height();
    await n[3]!.kill();
    const from = Math.max(...(await Promise.all(n.slice(0, 3).map((p) => p.height()))));
    await waitForHeight(n.slice(0, 3), from + 3);
    await assertNoFork(n.slice(0, 3));
  }, 180_000);

  let stalledAt = 0;
  it('stop committing, without a fork, when a second validator is killed', async () => {
    await n[2]!.kill();
    // A block whose precommits were already in flight may still land; after that nothing commits.
    stalledAt = await waitFor('the chain to stall', 30_000, async () => {
      const before = await n[0]!.height();
      await new Promise((r) => setTimeout(r, 2_500));
      const after = await n[0]!.height();
      return after === before ? after : undefined;
    });
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await n[0]!.height()).toBe(stalledAt);
    expect(await n[1]!.height()).toBeLessThanOrEqual(stalledAt);
    await assertNoFork(n.slice(0, 2));
  }, 180_000);

  it('resume when both restart from disk; the restarted nodes kept their state and sync', async () => {
    await n[3]!.start();
    await n[2]!.start();
    // Restarted from its own database: nothing committed before the crash was lost.
    expect(await n[3]!.height()).toBeGreaterThanOrEqual(heightAtFirstCrash);
    await waitForHeight(n, stalledAt + 3);
    expect(await assertNoFork(n)).toBeGreaterThanOrEqual(stalledAt + 3);
  }, 180_000);

  it('a node started fresh mid-chain catches up by block sync', async () => {
    const [api, p2p] = await freePorts('127.0.0.1', 2);
    const follower = net.addFollower(api!, p2p!);
    await follower.start();
    const target = await n[0]!.height();
    await waitForHeight([follower], target);
    await assertNoFork([...n, follower]);
    const fStatus = await follower.get<{ node_info: { validator: string | null } }>('/v1/status');
    expect(fStatus.node_info.validator).toBeNull();
  }, 180_000);

  it('shut down gracefully on SIGTERM', async () => {
    expect(await n[1]!.terminate()).toBe(0);
    await n[1]!.start();
    await waitForHeight([n[1]!], stalledAt + 3);
  }, 180_000);
});
