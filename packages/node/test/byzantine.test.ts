import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertNoFork, waitFor, waitForHeight, type NodeProcess } from '../src/testing/node-process.js';
import { makeTestnet, type ProcessTestnet } from './harness/testnet.js';

interface ValidatorsBody {
  validators: Array<{ address: string; slashed: boolean; jailed_until: number; active: boolean }>;
}

/** Sum of a Prometheus counter's samples whose labels contain `match`. */
function counter(text: string, name: string, match = ''): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(name) && l.includes(match))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

/**
 * One of four validator processes is Byzantine: it signs conflicting votes, proposes blocks with a
 * wrong state root, and sprays undecodable gossip. The three honest nodes must keep one chain,
 * reject and count its messages, score it down, and slash it through an `evidence` transaction.
 */
describe('a Byzantine validator among four self node processes', () => {
  let net: ProcessTestnet;
  let honest: NodeProcess[];

  beforeAll(async () => {
    net = await makeTestnet(4, {
      chainId: 'self-byzantine-1',
      byzantine: { 3: 'equivocate,garbage,invalid-state-root' },
    });
    await Promise.all(net.nodes.map((p) => p.start()));
    honest = net.nodes.slice(0, 3);
  }, 120_000);

  afterAll(async () => {
    await net?.cleanup();
  });

  it('is slashed and jailed through evidence while the honest nodes keep one chain', async () => {
    const byzantine = net.infos[3]!.validator;
    const record = await waitFor('the equivocator to be slashed', 90_000, async () => {
      const body = await honest[0]!.get<ValidatorsBody>('/v1/validators');
      const v = body.validators.find((x) => x.address === byzantine);
      return v?.slashed ? v : undefined;
    }).catch(async (err: unknown) => {
      // What the honest nodes said and counted is what explains a miss.
      const said = honest.map((n, i) => `--- node ${i}\n${n.logs.slice(-4_000)}`).join('\n');
      const counted = (await honest[0]!.metrics())
        .split('\n')
        .filter((l) => /^self_(rejected|peer_pen|height|evidence)/.test(l));
      throw new Error(`${String(err)}\n${counted.join('\n')}\n${said}`);
    });
    expect(record.jailed_until).toBeGreaterThan(0);
    expect(record.active).toBe(false);
    const height = await honest[0]!.height();
    await waitForHeight(honest, height + 3);
    await assertNoFork(honest);
    // Every honest node agrees on the slashing (it is chain state, not a local opinion).
    for (const node of honest) {
      const body = await node.get<ValidatorsBody>('/v1/validators');
      expect(body.validators.find((x) => x.address === byzantine)?.slashed).toBe(true);
    }
    const others = await honest[1]!.get<ValidatorsBody>('/v1/validators');
    expect(others.validators.filter((v) => v.slashed)).toHaveLength(1);
  }, 180_000);

  it('its garbage and invalid proposals are rejected with reasons counted, and it is scored down', async () => {
    const text = await honest[0]!.metrics();
    expect(counter(text, 'self_rejected_messages_total', 'reason="malformed"')).toBeGreaterThan(0);
    expect(
      counter(text, 'self_rejected_messages_total', 'reason="invalid_block/invalid_state_root"'),
    ).toBeGreaterThan(0);
    expect(counter(text, 'self_rejected_messages_total', 'reason="equivocation"')).toBeGreaterThan(0);
    expect(counter(text, 'self_peer_penalties_total', 'reason="malformed"')).toBeGreaterThan(0);
    expect(counter(text, 'self_peer_penalties_total', 'reason="invalid_block"')).toBeGreaterThan(0);
    // The honest nodes are still up and answering.
    for (const node of honest) expect((await node.get<{ status: string }>('/health')).status).toBe('ok');
  }, 180_000);
});
