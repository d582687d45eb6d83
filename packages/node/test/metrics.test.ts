import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { NodeMetrics } from '../src/metrics.js';

/** The value of one sample line, e.g. sample(text, 'self_votes_total{type="prevote"}'). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('NodeMetrics', () => {
  it('exposes every node metric with help text, in its own registry', async () => {
    const m = new NodeMetrics();
    m.setHeight(42);
    m.setRound(3);
    m.observeCommit(0.4, 7);
    m.observeCommit(12, 0);
    m.setMempool(5, 1234);
    m.setPeers(4);
    m.countVote('prevote');
    m.countVote('prevote');
    m.countVote('precommit');
    m.countRejected('bad_signature', 'gossip');
    m.countRejected('bad_signature', 'api');
    m.observeVerify(0.003, 256);
    m.countGossip('self/tx/1', 'in', 100);
    m.countGossip('self/tx/1', 'in', 50);
    m.countGossip('self/block/1', 'out', 2000);
    m.countTx('accepted');
    m.countTx('rejected');
    m.setSyncing(true);

    const text = await m.render();
    expect(m.contentType).toContain('text/plain');
    expect(sample(text, 'self_height')).toBe(42);
    expect(sample(text, 'self_round')).toBe(3);
    expect(sample(text, 'self_commit_latency_seconds_count')).toBe(2);
    expect(sample(text, 'self_commit_latency_seconds_sum')).toBeCloseTo(12.4);
    expect(sample(text, 'self_commit_latency_seconds_bucket{le="0.5"}')).toBe(1);
    expect(sample(text, 'self_commit_latency_seconds_bucket{le="0.05"}')).toBe(0);
    expect(sample(text, 'self_commit_latency_seconds_bucket{le="60"}')).toBe(2);
    expect(sample(text, 'self_committed_transactions_total')).toBe(7);
    expect(sample(text, 'self_mempool_transactions')).toBe(5);
    expect(sample(text, 'self_mempool_bytes')).toBe(1234);
    expect(sample(text, 'self_peers')).toBe(4);
    expect(sample(text, 'self_votes_total{type="prevote"}')).toBe(2);
    expect(sample(text, 'self_votes_total{type="precommit"}')).toBe(1);
    expect(sample(text, 'self_rejected_messages_total{reason="bad_signature",source="gossip"}')).toBe(1);
    expect(sample(text, 'self_rejected_messages_total{reason="bad_signature",source="api"}')).toBe(1);
    expect(sample(text, 'self_signature_verify_batch_seconds_count')).toBe(1);
    expect(sample(text, 'self_signatures_verified_total')).toBe(256);
    expect(sample(text, 'self_gossip_messages_total{topic="self/tx/1",direction="in"}')).toBe(2);
    expect(sample(text, 'self_gossip_bytes_total{topic="self/tx/1",direction="in"}')).toBe(150);
    expect(sample(text, 'self_gossip_bytes_total{topic="self/block/1",direction="out"}')).toBe(2000);
    expect(sample(text, 'self_transactions_received_total{result="accepted"}')).toBe(1);
    expect(sample(text, 'self_transactions_received_total{result="rejected"}')).toBe(1);
    expect(sample(text, 'self_syncing')).toBe(1);
    m.setSyncing(false);
    expect(sample(await m.render(), 'self_syncing')).toBe(0);

    // Default process metrics, prefixed; every metric has help text.
    expect(text).toContain('self_process_cpu_user_seconds_total');
    expect(text).toContain('self_nodejs_eventloop_lag_seconds');
    const names = [...text.matchAll(/^# TYPE (\S+) /gm)].map((r) => r[1]!);
    expect(names.length).toBeGreaterThan(20);
    for (const name of names) {
      expect(name.startsWith('self_'), name).toBe(true);
      expect(text).toMatch(new RegExp(`^# HELP ${name} \\S`, 'm'));
    }
    // Nothing leaked into prom-client's global registry.
    expect(await globalRegistry.metrics()).not.toContain('self_height');
  });

  it('lets several nodes live in one process', async () => {
    const a = new NodeMetrics();
    const b = new NodeMetrics();
    a.setHeight(1);
    b.setHeight(2);
    expect(sample(await a.render(), 'self_height')).toBe(1);
    expect(sample(await b.render(), 'self_height')).toBe(2);
  });

  it('keeps free-form labels bounded', async () => {
    const m = new NodeMetrics();
    for (let i = 0; i < 500; i++) m.countRejected(`reason_${i}`, 'gossip');
    m.countRejected('Not A Code {"x"}', 'api');
    for (let i = 0; i < 500; i++) m.countGossip(`topic-${i}`, 'in', 1);
    const text = await m.render();
    const reasons = new Set(
      [...text.matchAll(/self_rejected_messages_total\{reason="([^"]+)"/g)].map((r) => r[1]),
    );
    expect(reasons.size).toBeLessThanOrEqual(65);
    expect(reasons.has('other')).toBe(true);
    expect(sample(text, 'self_rejected_messages_total{reason="reason_0",source="gossip"}')).toBe(1);
    expect(sample(text, 'self_rejected_messages_total{reason="other",source="api"}')).toBe(1);
    const topics = new Set(
      [...text.matchAll(/self_gossip_messages_total\{topic="([^"]+)"/g)].map((r) => r[1]),
    );
    expect(topics.size).toBeLessThanOrEqual(65);
    // Every rejection is still counted, under `other` once the budget is spent.
    const total = [...text.matchAll(/^self_rejected_messages_total\{[^}]*\} (\d+)$/gm)].reduce(
      (n, r) => n + Number(r[1]),
      0,
    );
    expect(total).toBe(501);
  });
});
