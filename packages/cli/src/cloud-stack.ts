import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { accountKeysFromPhrase, addressFromPublicKey, fromHex, toHex, type SigningKey } from '@self/crypto';
import { DEV_FAUCET_PHRASE, type Genesis } from '@self/chain';
import type { CloudAiConfig } from '@self/cloud';
import type { Logger } from 'pino';
import { CliError } from './errors.js';
import { freePort } from './free-port.js';

/** Where `self up` keeps the cloud's parts under its data directory. */
export const cloudPaths = (dataDir: string) => ({
  cloud: join(dataDir, 'cloud'),
  hostKey: join(dataDir, 'cloud', 'host.key'),
  operatorToken: join(dataDir, 'cloud', 'operator.token'),
  instances: join(dataDir, 'instances'),
});

/**
 * The host sealing key wraps every always-on instance's data key on this machine. It is made once
 * (32 random bytes, hex, mode 0600) and never leaves the data directory; losing it locks always-on
 * instances until their owners unlock them with their recovery phrase.
 */
export function loadOrCreateHostKey(path: string): Uint8Array {
  if (existsSync(path)) {
    const text = readFileSync(path, 'utf8').trim();
    if (!/^[0-9a-f]{64}$/.test(text))
      throw new CliError(`${path} is not a host key (64 hex characters); restore it from a backup`);
    chmodSync(path, 0o600);
    return fromHex(text);
  }
  const key = randomBytes(32);
  mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${toHex(key)}\n`, { mode: 0o600, flag: 'wx' });
  return new Uint8Array(key);
}

/** The public dev faucet's key in whichever scheme funds this genesis's faucet account, if any. */
export function devSponsor(genesis: Genesis): SigningKey | null {
  if (!genesis.faucet) return null;
  for (const scheme of ['hybrid-ed25519-ml-dsa-65', 'ed25519'] as const) {
    const key = accountKeysFromPhrase(DEV_FAUCET_PHRASE, scheme).account;
    if (addressFromPublicKey(key.publicKey) === genesis.faucet) return key;
  }
  return null;
}

export interface CloudStack {
  url: string;
  operatorToken: string;
  close(): Promise<void>;
}

/**
 * The cloud half of `self up`: the instance manager (local provisioner), the gateway with sign-up,
 * sign-in and routing to instances, and the chain API forwarded on the same port, in front of a
 * running chain node whose API listens on `chainApiUrl`.
 */
export async function startCloudStack(opts: {
  dataDir: string;
  host: string;
  port: number;
  chainApiUrl: string;
  genesis: Genesis;
  logger: Logger;
  /** false: no gateway rate limits (benchmarks). */
  rateLimit?: boolean;
  /** The private AI instances may use (ai-stack.ts); null: none. */
  ai?: CloudAiConfig | null;
}): Promise<CloudStack> {
  const { LocalProvisioner, createCloud, registerChainProxy } = await import('@self/cloud');
  const { NodeClient } = await import('@self/node/client');
  const paths = cloudPaths(opts.dataDir);
  mkdirSync(paths.cloud, { recursive: true, mode: 0o700 });
  const hostKey = loadOrCreateHostKey(paths.hostKey);
  // The public URL is part of every sign-in message, so it must be known before the gateway starts.
  const port = opts.port === 0 ? await freePort(opts.host) : opts.port;
  const publicUrl = `http://${opts.host}:${port}`;
  const pointPrice = Math.max(1, opts.genesis.params.min_point_price);
  const provisioner = new LocalProvisioner({
    root: paths.instances,
    hostKey,
    chain: { apiUrl: opts.chainApiUrl, chainId: opts.genesis.chain_id, pointPrice },
    publicUrl,
    logger: opts.logger.child({ component: 'instances' }),
    ai: opts.ai ?? null,
  });
  const cloud = await createCloud({
    dataDir: paths.cloud,
    provisioner,
    chain: {
      client: new NodeClient(opts.chainApiUrl),
      chainId: opts.genesis.chain_id,
      sponsor: devSponsor(opts.genesis),
      pointPrice,
    },
    publicUrl,
    logger: opts.logger,
    ...(opts.rateLimit === false ? { rateLimit: false as const } : {}),
  });
  const proxy = await registerChainProxy(cloud.app, { target: opts.chainApiUrl });
  try {
    await cloud.app.listen({ host: opts.host, port });
  } catch (err) {
    await proxy.close();
    await cloud.close();
    await provisioner.close();
    throw err;
  }
  return {
    url: publicUrl,
    operatorToken: cloud.operatorToken,
    close: async () => {
      await proxy.close();
      await cloud.close();
      await provisioner.close();
    },
  };
}
