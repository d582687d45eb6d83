import {
  decodeBlock,
  decodeBlockHeader,
  decodeCommitCertificate,
  getChainParams,
  isActiveValidator,
  listValidators,
  type Chain,
  type StateTree,
} from '@self/chain';
import type { ApiNode } from '../node-api.js';
import type { BlockJson, StatusJson, ValidatorsJson } from './schemas.js';
import { blockJson, hex, validatorJson, type ProofAnchor } from './serialize.js';

/**
 * Reads of the node's chain shaped for the API. Each runs synchronously, so it sees one committed
 * state: a block cannot commit halfway through a response.
 */

export function statusJson(node: ApiNode): StatusJson {
  const chain = node.chain;
  const info = node.info();
  const consensus = node.consensus();
  return {
    chain_id: chain.chainId,
    latest_block: {
      height: chain.latestHeight(),
      hash: hex(chain.latestHash()),
      timestamp: chain.latestTimestamp(),
      state_root: hex(chain.stateRoot()),
    },
    node_info: {
      version: info.version,
      peer_id: info.peerId,
      peer_count: node.peerCount(),
      syncing: node.syncing(),
      moniker: info.moniker,
      validator: info.validator,
      listen_addrs: [...info.listenAddrs],
    },
    consensus: { height: consensus.height, round: consensus.round, step: consensus.step },
    mempool: { size: chain.mempool.size, bytes: chain.mempool.bytes },
  };
}

export function blockAtHeight(chain: Chain, height: number): BlockJson | null {
  const stored = chain.store.blockByHeight(height);
  if (!stored) return null;
  return blockJson(decodeBlock(stored.block), stored.hash, decodeCommitCertificate(stored.cert));
}

export function blockByHash(chain: Chain, hash: Uint8Array): BlockJson | null {
  const stored = chain.store.blockByHash(hash);
  if (!stored) return null;
  return blockJson(decodeBlock(stored.block), stored.hash, decodeCommitCertificate(stored.cert));
}

/** Timestamp (ms) of a committed block, from its header alone. */
export function blockTimestamp(chain: Chain, height: number): number | null {
  const header = chain.store.headerByHeight(height);
  return header ? decodeBlockHeader(header).timestamp : null;
}

/** Proofs answer against the state after the latest block (genesis state before block 1). */
export function proofAnchor(chain: Chain, tree: StateTree): ProofAnchor {
  return { stateRoot: tree.root(), height: chain.latestHeight(), blockHash: chain.latestHash() };
}

export function validatorsJson(chain: Chain): ValidatorsJson {
  const tree = chain.stateTree();
  const height = chain.latestHeight();
  const minBond = (getChainParams(tree) ?? chain.genesis.params).min_bond;
  const committee = chain.nextCommittee();
  const members = new Set(committee.members.map((m) => m.address));
  return {
    height,
    committee: {
      height: committee.height,
      quorum: committee.quorum,
      members: committee.members.map((m) => m.address),
    },
    validators: listValidators(tree).map((v) =>
      validatorJson(v, isActiveValidator(v, v.bonded, height + 1, minBond), members.has(v.address)),
    ),
  };
}
