import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accountKeysFromPhrase, addressFromPublicKey, type SigningKey } from '@self/crypto';
import { DEV_FAUCET_PHRASE, makeDevGenesis, type Genesis } from '@self/chain';
import { NodeClient } from '@self/node/client';
import { SelfNode, generatePeerKey, parseNodeConfig } from '@self/node';
import { pino } from 'pino';

export interface TestChain {
  node: SelfNode;
  client: NodeClient;
  genesis: Genesis;
  chainId: string;
  /** The dev faucet's key: the cloud's sponsor in tests. */
  faucet: SigningKey;
  faucetAddress: string;
  stop(): Promise<void>;
}

/**
 * A real single-validator SelfNode (libp2p, verify workers, HTTP API on 127.0.0.1) with the dev
 * faucet funded at genesis. Validator and faucet keys are Ed25519 to keep blocks cheap; people's
 * keys are hybrid, which the dev genesis allows.
 */
export async function startTestChain(chainId: string): Promise<TestChain> {
  const dir = mkdtempSync(join(tmpdir(), 'self-cloud-chain-'));
  const { genesis, validatorKeys } = makeDevGenesis({ chainId, validators: 1, scheme: 'ed25519' });
  const node = await SelfNode.start({
    config: parseNodeConfig({
      moniker: 'cloud-test',
      p2p: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      api: { host: '127.0.0.1', port: 0, rate_limit: { max: 1_000_000, window_ms: 1_000 } },
      empty_block_wait_ms: 200,
      verify_threads: 1,
      log_level: 'silent',
    }),
    genesis,
    validatorKey: validatorKeys[0]!,
    peerKey: generatePeerKey(),
    chainDbPath: join(dir, 'chain.sqlite'),
    logger: pino({ level: 'silent' }),
  });
  const client = new NodeClient(node.apiUrl()!);
  const faucet = accountKeysFromPhrase(DEV_FAUCET_PHRASE, 'ed25519').account;
  return {
    node,
    client,
    genesis,
    chainId,
    faucet,
    faucetAddress: addressFromPublicKey(faucet.publicKey),
    stop: async () => {
      await node.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
