import { join } from 'node:path';
import {
  accountKeysFromSeed,
  addressFromPublicKey,
  sha512,
  toHex,
  utf8,
  type SigningKey,
} from '@self/crypto';
import { supplyAudit } from '../block-exec.js';
import { Chain } from '../chain.js';
import { VerifiedCache } from '../verified-cache.js';
import { evidenceTransaction } from '../evidence-report.js';
import { signTransaction, encodeSignedTransaction } from '../codec.js';
import { ConsensusEngine, type ByzantineBehaviour } from '../consensus/engine.js';
import type { WireMessage } from '../consensus/transport.js';
import { getAccount, getValidator } from '../accounts.js';
import { DEFAULT_PARAMS, TIMING_PROFILES, type Genesis } from '../params.js';
import type { Address } from '../types.js';
import { Random } from './random.js';
import { Scheduler } from './scheduler.js';

export type SimScheme = 'ed25519' | 'hybrid-ed25519-ml-dsa-65';

export interface SimOptions {
  validators: number;
  heights: number;
  seed: number;
  /** Probability that any one message is lost. */
  drop: number;
  /** Probability that a delivered message is delivered twice. */
  duplicate: number;
  minDelayMs: number;
  maxDelayMs: number;
  /** Honest validators that crash (and restart from disk) during the fault phase. */
  crash: number;
  /** Byzantine validators: equivocate, claim inflated efficiency, propose bad state roots, send garbage. */
  byzantine: number;
  /** Network partitions during the fault phase. */
  partitions: number;
  /** Client transfers per simulated second. */
  txRate: number;
  scheme: SimScheme;
  /** Committee size (0: every validator, the default); smaller exercises reputation-weighted sortition. */
  committee?: number;
  dataDir: string;
  /** Give up after this much simulated time (default: 10 s per height + 2 min). */
  maxSimMs?: number;
  onProgress?: (height: number, targetHeights: number) => void;
}

export interface SimReport {
  seed: number;
  validators: number;
  f: number;
  heights_target: number;
  heights_committed: number;
  forks: number;
  safety_violations: number;
  liveness_stalls: number;
  max_round: number;
  crashes: number;
  restarts: number;
  partitions: number;
  byzantine: number;
  equivocators_slashed: number;
  equivocators_detected: number;
  rejected_messages: number;
  rejected_by_reason: Record<string, number>;
  messages_delivered: number;
  messages_dropped: number;
  txs_committed: number;
  sim_ms: number;
  wall_ms: number;
  /** CPU time of this process (user + system): steadier than wall time on a shared machine. */
  cpu_ms: number;
  faults_within_f: boolean;
  violations: string[];
}

interface SimNode {
  index: number;
  id: string;
  key: SigningKey;
  address: Address;
  path: string;
  byzantine: ByzantineBehaviour | null;
  chain: Chain | null;
  engine: ConsensusEngine | null;
  alive: boolean;
  incarnation: number;
  group: number;
  reportedEquivocators: Set<Address>;
}

interface Client {
  key: SigningKey;
  address: Address;
  nonce: number;
  inFlight: { nonce: number; bytes: Uint8Array; sentAt: number } | null;
}

const GENESIS_TIME = 1_767_225_600_000; // 2026-01-01T00:00:00Z: simulated time starts here.
/** A gap this long without any commit, while faults are within f and the network is whole, is a liveness stall. */
const STALL_MS = 30_000;

function keyFor(label: string, scheme: SimScheme): SigningKey {
  return accountKeysFromSeed(sha512(utf8(label)), scheme).account;
}

/**
 * N validators in one process over a simulated network driven by a seeded scheduler. The same
 * options (seed included) give the same run: every delay, loss, crash and Byzantine choice comes
 * from one PRNG, and time is simulated.
 */
export class SimCluster {
  readonly rng: Random;
  readonly scheduler = new Scheduler(GENESIS_TIME + 1_000);
  readonly genesis: Genesis;
  readonly f: number;
  private readonly nodes: SimNode[] = [];
  private readonly clients: Client[] = [];
  private readonly committed = new Map<number, string>();
  private readonly forkHeights = new Set<number>();
  private readonly violations: string[] = [];
  private readonly equivocators = new Set<Address>();
  private stats = {
    delivered: 0,
    dropped: 0,
    rejected: 0,
    crashes: 0,
    restarts: 0,
    partitions: 0,
    maxRound: 0,
    stalls: 0,
    txs: 0,
  };
  private readonly rejectedBy = new Map<string, number>();
  /** Signature checks are pure, so the simulated nodes share their memo (block execution is per node). */
  private readonly verifiedCache = new VerifiedCache();
  private partitioned = false;
  private crashedNow = 0;
  private lastCommitAt: number;
  private faultsOver = false;

  constructor(readonly opts: SimOptions) {
    this.rng = new Random(opts.seed);
    // Faults are tolerated per committee: with a smaller committee, its own f is the bound.
    const committee = opts.committee && opts.committee < opts.validators ? opts.committee : opts.validators;
    this.f = Math.floor((committee - 1) / 3);
    const validatorKeys = Array.from({ length: opts.validators }, (_, i) =>
      keyFor(`sim-validator-${i}`, opts.scheme),
    );
    for (let i = 0; i < 16; i++) {
      const key = keyFor(`sim-client-${i}`, 'ed25519');
      this.clients.push({ key, address: addressOf(key), nonce: 0, inFlight: null });
    }
    this.genesis = {
      chain_id: 'self-sim-1',
      genesis_time: GENESIS_TIME,
      params: { ...DEFAULT_PARAMS, committee_size: opts.committee ?? 0, timing: 'local' },
      validators: validatorKeys.map((k) => ({
        address: addressOf(k),
        public_key: k.publicKey,
        bonded: 10_000_000,
      })),
      accounts: [
        ...validatorKeys.map((k) => ({ address: addressOf(k), balance: 1_000_000_000 })),
        ...this.clients.map((c) => ({ address: c.address, balance: 1_000_000_000 })),
      ],
      faucet: null,
      signature_schemes: ['hybrid-ed25519-ml-dsa-65', 'ed25519'],
    };
    const byzantineFrom = opts.validators - opts.byzantine;
    validatorKeys.forEach((key, index) => {
      this.nodes.push({
        index,
        id: `v${index}`,
        key,
        address: addressOf(key),
        path: join(opts.dataDir, `v${index}.sqlite`),
        byzantine:
          index >= byzantineFrom
            ? { equivocate: true, inflateEfficiency: true, invalidStateRoot: true, garbage: true }
            : null,
        chain: null,
        engine: null,
        alive: false,
        incarnation: 0,
        group: 0,
        reportedEquivocators: new Set(),
      });
    });
    this.lastCommitAt = this.scheduler.now();
  }

  /** Runs to completion and returns the report. */
  run(): SimReport {
    const wallStart = performance.now();
    const cpuStart = process.cpuUsage();
    for (const node of this.nodes) this.boot(node, false);
    for (const node of this.nodes) node.engine!.start();
    this.planFaults();
    this.scheduleLoad();
    this.scheduleStallWatch();
    const maxSim = this.opts.maxSimMs ?? this.opts.heights * 10_000 + 120_000;
    const start = this.scheduler.now();
    let lastProgress = 0;
    while (this.scheduler.step()) {
      const progress = this.honestMinHeight();
      if (progress !== lastProgress) {
        lastProgress = progress;
        this.opts.onProgress?.(progress, this.opts.heights);
      }
      if (progress >= this.opts.heights) break;
      if (this.scheduler.now() - start > maxSim) {
        this.violations.push(
          `liveness: only ${progress} of ${this.opts.heights} heights in ${maxSim} ms of simulated time`,
        );
        break;
      }
    }
    const simMs = this.scheduler.now() - start;
    this.checkFinalState();
    const heightsCommitted = this.honestMinHeight();
    const slashed = [...this.equivocators].filter((a) => this.slashedEverywhere(a)).length;
    for (const node of this.nodes) this.shutdown(node);
    return {
      seed: this.opts.seed,
      validators: this.opts.validators,
      f: this.f,
      heights_target: this.opts.heights,
      heights_committed: heightsCommitted,
      forks: this.forkHeights.size,
      safety_violations: this.violations.filter((v) => v.startsWith('safety')).length,
      liveness_stalls: this.stats.stalls,
      max_round: this.stats.maxRound,
      crashes: this.stats.crashes,
      restarts: this.stats.restarts,
      partitions: this.stats.partitions,
      byzantine: this.opts.byzantine,
      equivocators_slashed: slashed,
      equivocators_detected: this.equivocators.size,
      rejected_messages: this.stats.rejected,
      rejected_by_reason: Object.fromEntries([...this.rejectedBy].sort()),
      messages_delivered: this.stats.delivered,
      messages_dropped: this.stats.dropped,
      txs_committed: this.stats.txs,
      sim_ms: simMs,
      wall_ms: Math.round(performance.now() - wallStart),
      cpu_ms: Math.round(cpuMs(process.cpuUsage(cpuStart))),
      faults_within_f: this.faultsWithinF(),
      violations: this.violations,
    };
  }

  faultsWithinF(): boolean {
    return this.opts.byzantine + Math.min(this.opts.crash, 1) <= this.f;
  }

  // ---------------------------------------------------------------- nodes

  private boot(node: SimNode, start = true): void {
    const chain = Chain.open({
      genesis: this.genesis,
      path: node.path,
      now: () => this.scheduler.now(),
      store: { synchronous: 'NORMAL' },
      verifiedCache: this.verifiedCache,
    });
    const incarnation = ++node.incarnation;
    const engine = new ConsensusEngine(
      {
        key: node.key,
        timing: TIMING_PROFILES.local,
        ...(node.byzantine ? { byzantine: node.byzantine } : {}),
      },
      {
        chain,
        clock: this.scheduler.clock(),
        transport: {
          broadcast: (msg) => this.broadcast(node, incarnation, msg),
          send: (peer, msg) => this.send(node, incarnation, peer, msg),
          peers: () => this.nodes.filter((n) => n !== node).map((n) => n.id),
        },
        privState: {
          load: () => chain.store.getMeta('consensus/priv'),
          save: (bytes) => chain.store.putMeta('consensus/priv', bytes),
        },
        events: {
          onCommit: (info) => this.onCommit(node, info.height, info.round, toHex(info.hash)),
          onEquivocation: (a, b, voter) => this.onEquivocation(node, a, b, voter),
          onReject: (reason) => {
            this.stats.rejected++;
            this.rejectedBy.set(reason, (this.rejectedBy.get(reason) ?? 0) + 1);
          },
          onRound: (_h, round) => {
            if (!node.byzantine) this.stats.maxRound = Math.max(this.stats.maxRound, round);
          },
        },
      },
    );
    node.chain = chain;
    node.engine = engine;
    node.alive = true;
    if (start) engine.start();
  }

  private shutdown(node: SimNode): void {
    node.engine?.stop();
    node.chain?.close();
    node.engine = null;
    node.chain = null;
    node.alive = false;
  }

  private honest(): SimNode[] {
    return this.nodes.filter((n) => !n.byzantine);
  }

  private honestMinHeight(): number {
    let min = Infinity;
    for (const n of this.honest()) {
      if (!n.alive || !n.chain) continue;
      min = Math.min(min, n.chain.latestHeight());
    }
    // While a node is down it cannot hold the run back; it must catch up after its restart.
    return min === Infinity ? 0 : min;
  }

  // ---------------------------------------------------------------- network

  private broadcast(from: SimNode, incarnation: number, msg: WireMessage): void {
    for (const to of this.nodes) if (to !== from) this.deliver(from, incarnation, to, msg);
  }

  private send(from: SimNode, incarnation: number, peer: string, msg: WireMessage): void {
    const to = this.nodes.find((n) => n.id === peer);
    if (to && to !== from) this.deliver(from, incarnation, to, msg);
  }

  private deliver(from: SimNode, fromIncarnation: number, to: SimNode, msg: WireMessage): void {
    if (!from.alive || from.incarnation !== fromIncarnation) return;
    if (!to.alive || (this.partitioned && from.group !== to.group) || this.rng.chance(this.opts.drop)) {
      this.stats.dropped++;
      return;
    }
    const copies = this.rng.chance(this.opts.duplicate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const target = to.incarnation;
      const delay = this.rng.int(this.opts.minDelayMs, this.opts.maxDelayMs);
      this.scheduler.after(delay, () => {
        if (!to.alive || to.incarnation !== target || !to.engine || !to.chain) return;
        if (this.partitioned && from.group !== to.group) return;
        this.stats.delivered++;
        if (msg.t === 'txs') {
          for (const bytes of msg.data) this.trySubmit(to, bytes);
        } else {
          to.engine.receive(msg, from.id);
        }
      });
    }
  }

  private trySubmit(node: SimNode, bytes: Uint8Array): boolean {
    try {
      node.chain!.submitTransaction(bytes);
      return true;
    } catch {
      // Duplicates and stale nonces are normal under gossip; real rejections are counted by the node.
      return false;
    }
  }

  // ---------------------------------------------------------------- invariants

  private onCommit(node: SimNode, height: number, round: number, hashHex: string): void {
    this.lastCommitAt = this.scheduler.now();
    if (node.byzantine) return;
    if (round > this.stats.maxRound) this.stats.maxRound = round;
    const previous = this.committed.get(height);
    if (previous === undefined) {
      this.committed.set(height, hashHex);
      const block = node.chain!.block(height);
      this.stats.txs += block?.block.txs.length ?? 0;
    } else if (previous !== hashHex) {
      this.forkHeights.add(height);
      this.violations.push(
        `safety: ${node.id} committed ${hashHex.slice(0, 16)} at height ${height}, others ${previous.slice(0, 16)}`,
      );
    }
    const header = node.chain!.block(height)!.block.header;
    if (toHex(header.state_root) !== toHex(node.chain!.stateRoot())) {
      this.violations.push(`safety: ${node.id} state root after height ${height} differs from the header`);
    }
  }

  private onEquivocation(node: SimNode, a: Uint8Array, b: Uint8Array, voter: Address): void {
    this.equivocators.add(voter);
    if (node.byzantine || node.reportedEquivocators.has(voter) || !node.chain) return;
    const bytes = evidenceTransaction(node.chain, node.key, voter, a, b);
    if (!bytes) return;
    node.reportedEquivocators.add(voter);
    if (this.trySubmit(node, bytes)) this.broadcast(node, node.incarnation, { t: 'txs', data: [bytes] });
  }

  private slashedEverywhere(address: Address): boolean {
    return this.honest().every((n) => {
      if (!n.chain) return true;
      return getValidator(n.chain.store, address)?.slashed === true;
    });
  }

  private checkFinalState(): void {
    const honest = this.honest().filter((n) => n.alive && n.chain);
    const height = Math.min(...honest.map((n) => n.chain!.latestHeight()));
    const roots = new Set(
      honest.map((n) => toHex(n.chain!.block(height)?.block.header.state_root ?? new Uint8Array())),
    );
    if (roots.size > 1)
      this.violations.push(`safety: honest nodes disagree on the state root at height ${height}`);
    for (const n of honest) {
      const { held, totalSupply } = supplyAudit(n.chain!.stateTree());
      if (held !== totalSupply) {
        this.violations.push(`safety: ${n.id} holds ${held} tokens, but the total supply is ${totalSupply}`);
      }
    }
    for (const address of this.equivocators) {
      const isByzantine = this.nodes.some((n) => n.byzantine && n.address === address);
      if (!isByzantine) this.violations.push(`safety: honest validator ${address} was seen equivocating`);
    }
  }

  private scheduleStallWatch(): void {
    const tick = (): void => {
      const now = this.scheduler.now();
      const whole = !this.partitioned && (this.faultsWithinF() || this.faultsOver);
      if (whole && now - this.lastCommitAt > STALL_MS) {
        this.stats.stalls++;
        this.violations.push(
          `liveness: no commit for ${now - this.lastCommitAt} ms at height ${this.honestMinHeight()}`,
        );
        this.lastCommitAt = now;
      }
      this.scheduler.after(1_000, tick);
    };
    this.scheduler.after(1_000, tick);
  }

  // ---------------------------------------------------------------- faults

  /**
   * Crashes and partitions happen while the chain is in its first 60% of heights (longer if some
   * requested fault has not happened yet); then the network heals and every crashed node has
   * restarted, so liveness is judged on a whole network (loss and delay continue throughout).
   */
  private planFaults(): void {
    const honest = this.honest();
    const crashers = this.rng.shuffle([...honest]).slice(0, Math.min(this.opts.crash, honest.length));
    const budget = Math.max(1, this.f - this.opts.byzantine);
    const faultWindowHeights = Math.max(1, Math.floor(this.opts.heights * 0.6));
    const pendingCrashes = [...crashers];
    let partitionsLeft = this.opts.partitions;

    const tick = (): void => {
      const progress = this.honestMinHeight();
      const allFaultsDone =
        pendingCrashes.length === 0 && partitionsLeft === 0 && this.crashedNow === 0 && !this.partitioned;
      if (progress >= faultWindowHeights && allFaultsDone) {
        this.faultsOver = true;
        if (this.partitioned) this.heal();
        for (const n of this.nodes) if (!n.alive) this.restart(n);
        return;
      }
      if (pendingCrashes.length > 0 && this.crashedNow < budget && this.rng.chance(0.5)) {
        const node = pendingCrashes.shift()!;
        this.crash(node);
        this.scheduler.after(this.rng.int(1_500, 6_000), () => this.restart(node));
      }
      if (partitionsLeft > 0 && !this.partitioned && this.rng.chance(0.3)) {
        partitionsLeft--;
        this.partition();
        this.scheduler.after(this.rng.int(2_000, 6_000), () => this.heal());
      }
      this.scheduler.after(1_000, tick);
    };
    this.scheduler.after(1_500, tick);
  }

  private crash(node: SimNode): void {
    if (!node.alive) return;
    this.stats.crashes++;
    this.crashedNow++;
    this.shutdown(node);
  }

  private restart(node: SimNode): void {
    if (node.alive) return;
    this.stats.restarts++;
    this.crashedNow--;
    this.boot(node);
  }

  private partition(): void {
    this.stats.partitions++;
    this.partitioned = true;
    const order = this.rng.shuffle([...this.nodes]);
    const cut = this.rng.int(1, this.nodes.length - 1);
    order.forEach((n, i) => {
      n.group = i < cut ? 0 : 1;
    });
  }

  private heal(): void {
    this.partitioned = false;
    this.lastCommitAt = Math.max(this.lastCommitAt, this.scheduler.now());
    for (const n of this.nodes) n.group = 0;
  }

  // ---------------------------------------------------------------- client load

  private scheduleLoad(): void {
    if (this.opts.txRate <= 0) return;
    const every = Math.max(1, Math.round(1000 / this.opts.txRate));
    const tick = (): void => {
      this.clientTick();
      this.scheduler.after(every, tick);
    };
    this.scheduler.after(every, tick);
  }

  private clientTick(): void {
    const entry = this.honest().find((n) => n.alive && n.chain);
    if (!entry) return;
    const client = this.rng.pick(this.clients);
    const now = this.scheduler.now();
    if (client.inFlight) {
      const committed = getAccount(entry.chain!.store, client.address).nonce;
      if (committed >= client.inFlight.nonce) {
        client.nonce = client.inFlight.nonce;
        client.inFlight = null;
      } else if (now - client.inFlight.sentAt > 3_000) {
        client.inFlight.sentAt = now;
        this.submitFromClient(client.inFlight.bytes);
        return;
      } else {
        return;
      }
    }
    const to = this.rng.pick(this.clients.filter((c) => c !== client));
    const stx = signTransaction(
      {
        v: 1,
        chain_id: this.genesis.chain_id,
        kind: 'transfer',
        nonce: client.nonce + 1,
        point_price: this.rng.int(1, 20),
        body: { to: to.address, amount: this.rng.int(1, 1_000) },
      },
      client.key,
    );
    const bytes = encodeSignedTransaction(stx);
    client.inFlight = { nonce: client.nonce + 1, bytes, sentAt: now };
    this.submitFromClient(bytes);
  }

  private submitFromClient(bytes: Uint8Array): void {
    const alive = this.honest().filter((n) => n.alive && n.chain);
    if (alive.length === 0) return;
    const node = this.rng.pick(alive);
    this.trySubmit(node, bytes);
    this.broadcast(node, node.incarnation, { t: 'txs', data: [bytes] });
  }
}

function cpuMs(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1000;
}

function addressOf(key: SigningKey): Address {
  return addressFromPublicKey(key.publicKey);
}
