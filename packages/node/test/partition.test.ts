import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initTestnet } from '../src/index.js';
import {
  NodeProcess,
  assertNoFork,
  editConfig,
  waitFor,
  waitForHeight,
} from '../src/testing/node-process.js';
import { NetnsLan } from './harness/netns.js';

const BIN = fileURLToPath(new URL('../../cli/bin/self.js', import.meta.url));
const available = NetnsLan.available();
if (!available) console.warn('partition test skipped: network namespaces need root on Linux (ip netns)');

/** Heights stop moving on every node of `group` (allowing one in-flight commit). */
async function stalled(group: NodeProcess[]): Promise<number[]> {
  return waitFor('the group to stall', 30_000, async () => {
    const before = await Promise.all(group.map((n) => n.height()));
    await new Promise((r) => setTimeout(r, 2_500));
    const after = await Promise.all(group.map((n) => n.height()));
    return after.every((h, i) => h === before[i]) ? after : undefined;
  });
}

/**
 * Four validators, each in its own network namespace on a bridged test LAN; partitions are
 * blackhole routes between namespaces, so real TCP connections between real processes break.
 */
describe.skipIf(!available)('network partitions between four node processes in network namespaces', () => {
  const lan = new NetnsLan(4);
  let dir = '';
  let n: NodeProcess[] = [];

  beforeAll(async () => {
    lan.up();
    dir = mkdtempSync(join(tmpdir(), 'self-partition-'));
    const infos = await initTestnet({
      validators: 4,
      out: dir,
      chainId: 'self-partition-1',
      scheme: 'ed25519',
      hosts: lan.hosts,
      basePort: 26656,
    });
    for (const info of infos)
      editConfig(info.home, (c) => {
        c.verify_threads = 1;
      });
    n = infos.map((info, i) => new NodeProcess(BIN, info.home, info.api_url, { netns: lan.namespaces[i]! }));
    await Promise.all(n.map((p) => p.start()));
    await waitForHeight(n, 3, 90_000);
  }, 150_000);

  afterAll(async () => {
    await Promise.all(n.map((p) => p.kill()));
    lan.down();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a 2|2 split commits nothing on either side, and commits resume after healing', async () => {
    lan.partition([0, 1], [2, 3]);
    const heights = await stalled(n);
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await Promise.all(n.map((p) => p.height()))).toEqual(heights);
    await assertNoFork(n);
    lan.heal();
    await waitForHeight(n, Math.max(...heights) + 3, 60_000);
    await assertNoFork(n);
  }, 180_000);

  it('a 3|1 split: the majority keeps committing, the isolated node stalls, then catches up', async () => {
    lan.partition([0, 1, 2], [3]);
    const [isolatedAt] = await stalled([n[3]!]);
    const majority = Math.max(...(await Promise.all(n.slice(0, 3).map((p) => p.height()))));
    await waitForHeight(n.slice(0, 3), majority + 3, 60_000);
    expect(await n[3]!.height()).toBe(isolatedAt);
    await assertNoFork(n);
    lan.heal();
    const target = await n[0]!.height();
    await waitForHeight([n[3]!], target, 120_000);
    expect(await assertNoFork(n)).toBeGreaterThanOrEqual(target);
  }, 180_000);
});
