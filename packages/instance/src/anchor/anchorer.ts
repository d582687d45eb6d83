import { fromHex, toHex } from '@self/crypto';
import {
  TX_POINTS,
  encodeSignedTransaction,
  signTransaction,
  txHash,
  type Transaction,
  type TxBodies,
} from '@self/chain';
import { NodeApiError, type NodeClient } from '@self/node/client';
import { AuditError, auditAnchorBody } from '../audit/index.js';
import { GRANT_ANCHOR_KINDS, grantAnchorBody, type GrantAnchorKind } from '../grants/commitments.js';
import type { Instance } from '../instance.js';
import type { AnchorSchedule } from '../process/protocol.js';
import { delegatedPurposes } from './delegation.js';
import { sameAnnouncement, type NodeAnnouncement } from './node-record.js';
import { readAnnounced, readOutbox, writeAnnounced, writeOutbox, type Outbox } from './outbox.js';

/**
 * Commits the instance's audit segments on SELF Chain and keeps its node record current, signing
 * with the instance key as the DID's delegate (docs/protocol/audit.md §5):
 *
 *   every `everyMs`: settle the pending transaction (outbox.ts), then, when at least `minEntries`
 *   entries are unsegmented, close a segment and submit `anchor` {did, kind 'audit', seq = segment
 *   id, root, count}; segments are anchored one at a time in id order, each waited on until it
 *   commits and then marked anchored. The chain numbers anchors 1, 2, 3… per DID and kind with no
 *   gaps, exactly like segment ids, so the segment id is the anchor's seq. Then the same for the
 *   grants' commitments (grants/commitments.ts): any new consent or revocation leaves are closed
 *   into a segment of their kind and anchored as `anchor` {kind 'consent' | 'revocation', seq,
 *   root, count}. Then, when the node record differs from the last one committed, `node.announce`.
 *
 * Until the person's did.update delegates the key, or while its address cannot pay the fee, each
 * round logs why at info and backs off (doubling up to maxBackoffMs). Failures never escape: the
 * anchorer logs and tries again later; it never takes the process down.
 */

export type AnchorChain = Pick<
  NodeClient,
  'account' | 'did' | 'submitTransaction' | 'transaction' | 'waitForTransaction'
>;

type LogFn = (obj: object, msg: string) => void;
export interface AnchorLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const SILENT: AnchorLogger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

export interface AnchorerOptions {
  instance: Instance;
  chain: AnchorChain;
  chainId: string;
  pointPrice: number;
  schedule: AnchorSchedule;
  /** The node record to keep announced; null announces nothing. */
  announcement: NodeAnnouncement | null;
  logger?: AnchorLogger;
  /** How long one round waits for a submitted transaction to commit (default 30 s). */
  commitTimeoutMs?: number;
  /** Longest pause between rounds after failures (default min(60 s, 16 × everyMs)). */
  maxBackoffMs?: number;
}

/** What one round did. `blocked` says why it stopped early (not delegated, unfunded, waiting…). */
export interface AnchorRound {
  /** Audit segment ids anchored. */
  anchored: number[];
  /** Grant segments anchored, by kind and seq. */
  grantsAnchored: Array<{ kind: GrantAnchorKind; seq: number }>;
  announced: boolean;
  blocked: string | null;
}

/** The round cannot go on for a reason outside the instance; logged at info, retried later. */
class Blocked extends Error {}

export class Anchorer {
  private readonly instance: Instance;
  private readonly chain: AnchorChain;
  private readonly log: AnchorLogger;
  private readonly commitTimeoutMs: number;
  private readonly maxBackoffMs: number;
  private readonly did: string;
  private readonly address: string;
  private readonly publicKey: Uint8Array;
  /** Purposes the chain was last seen to delegate; cleared when the chain refuses a signature. */
  private delegated = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private failures = 0;
  private stopped = true;

  constructor(private readonly opts: AnchorerOptions) {
    this.instance = opts.instance;
    this.chain = opts.chain;
    this.log = opts.logger ?? SILENT;
    this.commitTimeoutMs = opts.commitTimeoutMs ?? 30_000;
    this.maxBackoffMs = opts.maxBackoffMs ?? Math.min(60_000, 16 * opts.schedule.everyMs);
    this.did = opts.instance.did;
    const key = opts.instance.instanceKeyInfo();
    this.address = key.address;
    this.publicKey = key.publicKey;
  }

  /** Starts the rounds; the first runs after `everyMs`. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(this.opts.schedule.everyMs);
  }

  /**
   * Stops scheduling rounds. A round in flight is not awaited past `graceMs`: its transaction stays
   * in the outbox and the next run settles it.
   */
  async stop(graceMs = 1_000): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.running !== null) {
      await Promise.race([this.running, new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
    }
  }

  /** One round (see the class comment). Exposed for tests; start() runs rounds on a timer. */
  async round(): Promise<AnchorRound> {
    const result: AnchorRound = { anchored: [], grantsAnchored: [], announced: false, blocked: null };
    try {
      await this.settleOutbox(result);
      await this.anchorSegments(result);
      for (const kind of GRANT_ANCHOR_KINDS) await this.anchorGrantSegments(kind, result);
      await this.announce(result);
    } catch (err) {
      if (!(err instanceof Blocked)) throw err;
      result.blocked = err.message;
    }
    return result;
  }

  // ---- scheduling ---------------------------------------------------------------------------------

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.runRound(), ms);
    // Anchoring alone never keeps the process alive; the server does.
    this.timer.unref();
  }

  private async runRound(): Promise<void> {
    this.timer = null;
    this.running = this.round().then(
      (r) => {
        if (r.blocked === null) this.failures = 0;
        else {
          this.failures++;
          this.log.info({ did: this.did, address: this.address }, `anchoring waits: ${r.blocked}`);
        }
      },
      (err: unknown) => {
        this.failures++;
        if (!this.stopped) this.log.warn({ err, did: this.did }, 'anchoring round failed; retrying later');
      },
    );
    await this.running;
    this.running = null;
    const every = this.opts.schedule.everyMs;
    const backoff = Math.min(this.maxBackoffMs, every * 2 ** Math.min(this.failures, 16));
    this.schedule(this.failures === 0 ? every : backoff);
  }

  // ---- the steps ----------------------------------------------------------------------------------

  private async settleOutbox(result: AnchorRound): Promise<void> {
    const o = readOutbox(this.instance);
    if (o === null) return;
    const known = await this.lookup(o.hash);
    if (known !== null && known.status === 'committed') return this.complete(o, known.height, result);
    if (known === null) {
      const account = await this.chain.account(this.address);
      if (account.nonce >= o.nonce) {
        // Another transaction of this address took the nonce: this one can never commit.
        this.log.warn(
          { tx: o.hash, kind: o.kind },
          'a pending chain transaction was superseded; rebuilding it',
        );
        writeOutbox(this.instance, null);
        return;
      }
      await this.submit(o);
    }
    await this.waitAndComplete(o, result);
  }

  private async anchorSegments(result: AnchorRound): Promise<void> {
    let segments = this.instance.unanchoredAuditSegments();
    if (segments.length === 0 && this.instance.unsegmentedAuditEntries() < this.opts.schedule.minEntries)
      return;
    await this.requireReady('anchor');
    if (segments.length === 0) {
      // Close only once the chain can take it: while blocked, new entries join one later segment.
      if (this.instance.closeAuditSegment() === null) return;
      segments = this.instance.unanchoredAuditSegments();
    }
    for (const segment of segments) {
      await this.send({ kind: 'anchor', segment: segment.id }, auditAnchorBody(this.did, segment), result);
    }
  }

  private async anchorGrantSegments(kind: GrantAnchorKind, result: AnchorRound): Promise<void> {
    const commitments = this.instance.grants().commitments;
    let segments = commitments.unanchored(kind);
    // Every grant and revocation is anchored soon after it is made: they are rare, and their
    // commitment is what lets the person prove later when they consented or revoked.
    if (segments.length === 0 && commitments.unsegmented(kind) === 0) return;
    await this.requireReady('anchor');
    if (segments.length === 0) {
      if (commitments.closeSegment(kind) === null) return;
      segments = commitments.unanchored(kind);
    }
    for (const segment of segments) {
      const what = { kind: 'anchor' as const, segment: segment.seq, of: kind };
      await this.send(what, grantAnchorBody(this.did, segment), result);
    }
  }

  private async announce(result: AnchorRound): Promise<void> {
    const record = this.opts.announcement;
    if (record === null) return;
    const last = readAnnounced(this.instance);
    if (last !== null && sameAnnouncement(last.record, record)) return;
    await this.requireReady('node.announce');
    await this.send({ kind: 'node.announce', record }, record, result);
  }

  // ---- transactions -------------------------------------------------------------------------------

  /** Signs, records in the outbox, submits, waits for the commit and records it. */
  private async send(
    what:
      | { kind: 'anchor'; segment: number; of?: GrantAnchorKind }
      | { kind: 'node.announce'; record: NodeAnnouncement },
    body: TxBodies['anchor'] | TxBodies['node.announce'],
    result: AnchorRound,
  ): Promise<void> {
    const account = await this.chain.account(this.address);
    const tx = {
      v: 1,
      chain_id: this.opts.chainId,
      kind: what.kind,
      nonce: account.nonce + 1,
      point_price: this.opts.pointPrice,
      body,
    } as Transaction;
    const stx = signTransaction(tx, this.instance.instanceKey());
    const outbox = {
      ...what,
      hash: toHex(txHash(stx)),
      nonce: tx.nonce,
      tx: toHex(encodeSignedTransaction(stx)),
    } as Outbox;
    writeOutbox(this.instance, outbox);
    await this.submit(outbox);
    await this.waitAndComplete(outbox, result);
  }

  private async submit(o: Outbox): Promise<void> {
    try {
      await this.chain.submitTransaction(fromHex(o.tx));
      this.log.debug({ tx: o.hash, kind: o.kind }, 'submitted');
    } catch (err) {
      if (err instanceof NodeApiError && err.chainCode === 'duplicate') return;
      if (err instanceof NodeApiError && err.code === 'transaction_rejected') {
        // Refused for good (stale nonce, lost delegation, no funds, a sequence the chain already
        // has): drop it so that the next round builds a fresh one from the chain's state.
        writeOutbox(this.instance, null);
        if (err.chainCode === 'not_controller') this.delegated.clear();
        const level = err.chainCode === 'bad_sequence' ? 'error' : 'info';
        this.log[level](
          { tx: o.hash, kind: o.kind, code: err.chainCode },
          `the chain refused: ${err.message}`,
        );
        throw new Blocked(`the chain refused the ${o.kind} transaction (${err.chainCode ?? err.code})`);
      }
      throw err;
    }
  }

  private async waitAndComplete(o: Outbox, result: AnchorRound): Promise<void> {
    let committed;
    try {
      committed = await this.chain.waitForTransaction(o.hash, {
        timeoutMs: this.commitTimeoutMs,
        intervalMs: 100,
      });
    } catch (err) {
      if (err instanceof NodeApiError && err.code === 'wait_timeout') {
        throw new Blocked(`${o.kind} transaction ${o.hash} has not committed yet`);
      }
      throw err;
    }
    this.complete(o, committed.height, result);
  }

  private complete(o: Outbox, height: number, result: AnchorRound): void {
    if (o.kind === 'anchor' && o.of !== undefined) {
      this.instance.grants().commitments.markAnchored(o.of, o.segment, o.hash, height);
      result.grantsAnchored.push({ kind: o.of, seq: o.segment });
      this.log.info({ kind: o.of, seq: o.segment, tx: o.hash, height }, 'grant commitments anchored');
    } else if (o.kind === 'anchor') {
      try {
        this.instance.markAnchored(o.segment, o.hash, height);
      } catch (err) {
        if (!(err instanceof AuditError && err.code === 'already_anchored')) throw err;
      }
      result.anchored.push(o.segment);
      this.log.info({ segment: o.segment, tx: o.hash, height }, 'audit segment anchored');
    } else {
      writeAnnounced(this.instance, { record: o.record, hash: o.hash, height });
      result.announced = true;
      this.log.info({ tx: o.hash, height }, 'node record announced');
    }
    writeOutbox(this.instance, null);
  }

  private async lookup(hash: string): Promise<Awaited<ReturnType<AnchorChain['transaction']>> | null> {
    try {
      return await this.chain.transaction(hash);
    } catch (err) {
      if (err instanceof NodeApiError && err.status === 404) return null;
      throw err;
    }
  }

  /** Blocked unless the DID delegates `purpose` to the instance key and its address can pay. */
  private async requireReady(purpose: 'anchor' | 'node.announce'): Promise<void> {
    if (!this.delegated.has(purpose)) {
      let resolution: unknown;
      try {
        resolution = await this.chain.did(this.did);
      } catch (err) {
        if (err instanceof NodeApiError && err.status === 404)
          throw new Blocked(`${this.did} is not on chain yet`);
        if (err instanceof NodeApiError && err.status === 410)
          throw new Blocked(`${this.did} is deactivated`);
        throw err;
      }
      this.delegated = new Set(delegatedPurposes(resolution, this.publicKey));
      if (!this.delegated.has(purpose)) {
        throw new Blocked(
          `the instance key is not a delegate of ${this.did} for ${purpose} yet (the person's did.update adds it)`,
        );
      }
    }
    const fee = this.opts.pointPrice * TX_POINTS[purpose];
    const { balance } = await this.chain.account(this.address);
    if (balance < fee) {
      throw new Blocked(`the instance address ${this.address} holds ${balance}, less than the ${fee} fee`);
    }
  }
}
