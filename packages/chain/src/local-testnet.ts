import { join } from 'node:path';
import { addressFromPublicKey, type SigningKey } from '@self/crypto';
import { Chain } from './chain.js';
import { VerifiedCache } from './verified-cache.js';
import { systemClock, type Clock } from './consensus/clock.js';
import { ConsensusEngine, type EngineEvents } from './consensus/engine.js';
import { LocalNetwork } from './consensus/local-network.js';
import { TIMING_PROFILES, type Genesis } from './params.js';
import type { Block } from './types.js';

export interface LocalTestnetOptions {
  genesis: Genesis;
  validatorKeys: SigningKey[];
  /** Each validator keeps its SQLite file here (validator-K.sqlite); ':memory:' keeps none. */
  dataDir: string | ':memory:';
  clock?: Clock;
  onCommit?: (info: { node: number; height: number; round: number; hash: Uint8Array; block: Block }) => void;
  onReject?: (info: { node: number; reason: string }) => void;
}

export interface LocalValidator {
  index: number;
  address: string;
  chain: Chain;
  engine: ConsensusEngine;
}

/**
 * N validators in one process, each with its own chain database and consensus engine, connected by
 * an in-process bus. The engines are the same ones that run over libp2p and in the simulator.
 */
export class LocalTestnet {
  readonly validators: LocalValidator[] = [];
  private readonly network = new LocalNetwork();
  private readonly verifiedCache = new VerifiedCache();

  constructor(private readonly opts: LocalTestnetOptions) {}

  start(): void {
    const clock = this.opts.clock ?? systemClock;
    const timing = TIMING_PROFILES[this.opts.genesis.params.timing];
    this.opts.validatorKeys.forEach((key, index) => {
      const id = `validator-${index}`;
      const chain = Chain.open({
        genesis: this.opts.genesis,
        path: this.opts.dataDir === ':memory:' ? ':memory:' : join(this.opts.dataDir, `${id}.sqlite`),
        now: () => clock.now(),
        verifiedCache: this.verifiedCache,
      });
      let engine: ConsensusEngine | null = null;
      const transport = this.network.join(id, (msg, from) => {
        if (msg.t === 'txs') {
          for (const bytes of msg.data) {
            try {
              chain.submitTransaction(bytes);
            } catch {
              // Already known or invalid: the sender's node reported the reason to its client.
            }
          }
          return;
        }
        engine?.receive(msg, from);
      });
      const events: EngineEvents = {
        onCommit: (info) => this.opts.onCommit?.({ node: index, ...info }),
        onReject: (reason) => this.opts.onReject?.({ node: index, reason }),
      };
      engine = new ConsensusEngine(
        { key, timing },
        {
          chain,
          transport,
          clock,
          events,
          privState: {
            load: () => chain.store.getMeta('consensus/priv'),
            save: (bytes) => chain.store.putMeta('consensus/priv', bytes),
          },
        },
      );
      this.validators.push({ index, address: addressFromPublicKey(key.publicKey), chain, engine });
    });
    for (const v of this.validators) v.engine.start();
  }

  /** Submits a signed transaction through validator `via` and gossips it to the others. */
  submit(bytes: Uint8Array, via = 0): Uint8Array {
    const v = this.validators[via];
    if (!v) throw new RangeError(`no validator ${via}`);
    const { hash } = v.chain.submitTransaction(bytes);
    for (const other of this.validators) {
      if (other === v) continue;
      try {
        other.chain.submitTransaction(bytes);
      } catch {
        // Another validator may already hold it.
      }
    }
    return hash;
  }

  stop(): void {
    for (const v of this.validators) {
      v.engine.stop();
      this.network.leave(`validator-${v.index}`);
      v.chain.close();
    }
    this.validators.length = 0;
  }
}
