import type { Address } from './types.js';

export type TimingProfileName = 'local' | 'public';

/** Round timeouts in milliseconds; each grows by `*_delta` per round, like Tendermint's. */
export interface TimingProfile {
  propose_ms: number;
  propose_delta_ms: number;
  prevote_ms: number;
  prevote_delta_ms: number;
  precommit_ms: number;
  precommit_delta_ms: number;
  /** Pause after a commit before the next height starts, so builders collect transactions. */
  commit_ms: number;
}

export const TIMING_PROFILES: Record<TimingProfileName, TimingProfile> = {
  local: {
    propose_ms: 1000,
    propose_delta_ms: 100,
    prevote_ms: 200,
    prevote_delta_ms: 100,
    precommit_ms: 200,
    precommit_delta_ms: 100,
    commit_ms: 100,
  },
  public: {
    propose_ms: 3000,
    propose_delta_ms: 500,
    prevote_ms: 1000,
    prevote_delta_ms: 500,
    precommit_ms: 1000,
    precommit_delta_ms: 500,
    commit_ms: 1000,
  },
};

export interface ChainParams {
  /** Committee size; 0 means every active validator. */
  committee_size: number;
  max_block_txs: number;
  /** Total encoded bytes of a block's transactions (the whole message is capped by LIMITS). */
  max_block_bytes: number;
  max_tx_bytes: number;
  min_point_price: number;
  /**
   * The point price the network aims for. Genesis records it for wallets (a suggested price) and
   * for the fee-market work to come; the 20/20/50/10 selection centres its average band on the
   * candidates' own mean price instead (docs/protocol/poai.md §3), so it is not consensus-critical yet.
   */
  point_price_target: number;
  /** Minimum stake to be an active validator (builder and voter). */
  min_bond: number;
  /** Heights an unbonded amount stays locked. */
  unbonding_heights: number;
  /** Share of the bond burned on proven equivocation, in basis points. */
  slash_bps: number;
  /** Heights a slashed validator stays jailed. */
  jail_heights: number;
  /** New tokens per block, paid with the fees (90/8/1/1). */
  block_reward: number;
  timing: TimingProfileName;
}

export interface GenesisValidator {
  address: Address;
  /** Encoded public key (scheme byte first). */
  public_key: Uint8Array;
  /** Initial bond (moved from nowhere: genesis mints it). */
  bonded: number;
}

export interface GenesisAccount {
  address: Address;
  balance: number;
}

export interface Genesis {
  chain_id: string;
  /** Milliseconds since the Unix epoch; block 1's timestamp must exceed it. */
  genesis_time: number;
  params: ChainParams;
  validators: GenesisValidator[];
  accounts: GenesisAccount[];
  /** Testnets: an account whose key is public so anyone can request test tokens. */
  faucet: Address | null;
  /** Accounts whose transactions may use these signature schemes. */
  signature_schemes: Array<'hybrid-ed25519-ml-dsa-65' | 'ed25519'>;
}

export const DEFAULT_PARAMS: ChainParams = {
  committee_size: 21,
  max_block_txs: 5_000,
  max_block_bytes: 32 * 1024 * 1024,
  max_tx_bytes: 64 * 1024,
  min_point_price: 1,
  point_price_target: 10,
  min_bond: 1_000_000,
  unbonding_heights: 100,
  slash_bps: 5_000,
  jail_heights: 1_000,
  block_reward: 1_000,
  timing: 'local',
};

/** Reserve account: receives 1% of every block's rewards. Its address has no known key. */
export const RESERVE_ADDRESS_LABEL = 'self-chain-reserve-v1';
