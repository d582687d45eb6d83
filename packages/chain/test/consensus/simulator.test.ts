import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SimCluster, type SimOptions, type SimReport } from '../../src/sim/cluster.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function simulate(overrides: Partial<SimOptions>): SimReport {
  const dataDir = mkdtempSync(join(tmpdir(), 'self-sim-test-'));
  dirs.push(dataDir);
  return new SimCluster({
    validators: 4,
    heights: 20,
    seed: 1,
    drop: 0,
    duplicate: 0.02,
    minDelayMs: 5,
    maxDelayMs: 60,
    crash: 0,
    byzantine: 0,
    partitions: 0,
    txRate: 20,
    scheme: 'ed25519',
    dataDir,
    ...overrides,
  }).run();
}

function expectSafeAndLive(r: SimReport, heights: number): void {
  expect(r.violations).toEqual([]);
  expect(r.forks).toBe(0);
  expect(r.safety_violations).toBe(0);
  expect(r.liveness_stalls).toBe(0);
  expect(r.heights_committed).toBeGreaterThanOrEqual(heights);
}

describe('deterministic network simulator', () => {
  it('commits every height in round 0 on a healthy network, with client transactions', () => {
    const r = simulate({ heights: 25 });
    expectSafeAndLive(r, 25);
    expect(r.max_round).toBe(0);
    expect(r.txs_committed).toBeGreaterThan(0);
  });

  it('gives the same run for the same seed', () => {
    const a = simulate({ heights: 12, seed: 9, drop: 0.1 });
    const b = simulate({ heights: 12, seed: 9, drop: 0.1 });
    const strip = ({ wall_ms: _w, cpu_ms: _c, ...rest }: SimReport) => rest;
    expect(strip(a)).toEqual(strip(b));
  });

  it('holds safety and liveness with 20% message loss and a crashed validator (n=4, f=1)', () => {
    const r = simulate({ heights: 30, seed: 3, drop: 0.2, crash: 1 });
    expectSafeAndLive(r, 30);
    expect(r.crashes).toBe(1);
    expect(r.restarts).toBe(1);
    expect(r.messages_dropped).toBeGreaterThan(0);
  });

  it('ignores a Byzantine validator and slashes it for equivocating (n=4, f=1)', () => {
    const r = simulate({ heights: 30, seed: 5, byzantine: 1 });
    expectSafeAndLive(r, 30);
    expect(r.equivocators_detected).toBe(1);
    expect(r.equivocators_slashed).toBe(1);
    expect(r.rejected_by_reason.equivocation ?? 0).toBeGreaterThan(0);
    expect(
      (r.rejected_by_reason['invalid_block:invalid_efficiency'] ?? 0) +
        (r.rejected_by_reason['invalid_block:invalid_state_root'] ?? 0),
    ).toBeGreaterThan(0);
  });

  it('converges after network partitions without forking', () => {
    const r = simulate({ heights: 30, seed: 11, partitions: 3, drop: 0.05 });
    expectSafeAndLive(r, 30);
    expect(r.partitions).toBeGreaterThan(0);
  });

  it('holds with f crashed or Byzantine validators and 10% loss (n=7, f=2)', () => {
    const r = simulate({ validators: 7, heights: 30, seed: 42, drop: 0.1, crash: 2, byzantine: 1 });
    expectSafeAndLive(r, 30);
    expect(r.crashes).toBe(2);
    expect(r.equivocators_slashed).toBe(1);
  });

  it('stays live with f = 3 equivocating Byzantine validators out of 10 (seed 106 once stalled)', () => {
    const r = simulate({ validators: 10, heights: 12, seed: 106, drop: 0.05, byzantine: 3 });
    expectSafeAndLive(r, 12);
    expect(r.equivocators_slashed).toBe(3);
  });

  it('draws a smaller committee by sortition each height and stays safe and live (7 of 10)', () => {
    const r = simulate({
      validators: 10,
      committee: 7,
      heights: 20,
      seed: 5,
      drop: 0.05,
      byzantine: 1,
      crash: 1,
    });
    expect(r.f).toBe(2);
    expectSafeAndLive(r, 20);
  });

  it('runs with post-quantum hybrid validator signatures, as on the real chain', () => {
    const r = simulate({ heights: 8, seed: 4, drop: 0.05, scheme: 'hybrid-ed25519-ml-dsa-65' });
    expectSafeAndLive(r, 8);
  });

  it('stays safe (no fork) even when faults exceed f', () => {
    const r = simulate({
      validators: 4,
      heights: 10,
      seed: 2,
      byzantine: 1,
      crash: 1,
      drop: 0.1,
      maxSimMs: 60_000,
    });
    expect(r.faults_within_f).toBe(false);
    expect(r.forks).toBe(0);
    expect(r.safety_violations).toBe(0);
  });
});
