import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import {
  accountKeysFromPhrase,
  addressFromPublicKey,
  newRecoveryPhrase,
  type AccountScheme,
} from '@self/crypto';
import { makeDevGenesis, type ChainParams, type GenesisAccount } from '@self/chain';
import { ConfigError } from './config.js';
import { writeHome } from './home.js';
import { generatePeerKey, peerIdFromKeyBytes } from './p2p/index.js';

export interface TestnetInitOptions {
  validators: number;
  out: string;
  chainId?: string;
  scheme?: AccountScheme;
  host?: string;
  /** One listen address per node (multi-host or network-namespace testnets); overrides `host`. */
  hosts?: string[];
  /** First port: node K listens for peers on base+2K and serves its API on base+2K+1. 0 picks free ports. */
  basePort?: number;
  params?: Partial<ChainParams>;
  /** Extra funded accounts (the chain benchmark funds its load accounts here). */
  accounts?: GenesisAccount[];
  genesisTime?: number;
  /** Called after each home is written (progress bars). */
  onProgress?: (done: number, total: number) => void;
}

/** What `self testnet init` prints for each node. */
export interface TestnetNode {
  name: string;
  home: string;
  api_url: string;
  p2p_addr: string;
  peer_id: string;
  validator: string;
}

/**
 * Writes N node homes under `out` (node0 … nodeN-1) sharing one genesis in which every node is a
 * bonded validator, each node listing all the others as bootstrap peers — like `cometbft testnet`.
 */
export async function initTestnet(opts: TestnetInitOptions): Promise<TestnetNode[]> {
  const n = opts.validators;
  if (!Number.isInteger(n) || n < 1 || n > 64)
    throw new ConfigError('--validators must be an integer from 1 to 64');
  const host = opts.host ?? '127.0.0.1';
  if (opts.hosts && opts.hosts.length !== n) throw new ConfigError(`--hosts must list ${n} addresses`);
  const hostOf = (i: number): string => opts.hosts?.[i] ?? host;
  const scheme = opts.scheme ?? 'hybrid-ed25519-ml-dsa-65';
  const out = resolve(opts.out);
  const ports = opts.basePort ? fixedPorts(opts.basePort, n) : await freePorts(host, 2 * n);

  const phrases = Array.from({ length: n }, () => newRecoveryPhrase());
  const keys = phrases.map((p) => accountKeysFromPhrase(p, scheme).account);
  const peerKeys = Array.from({ length: n }, () => generatePeerKey());
  const peerIds = peerKeys.map((k) => peerIdFromKeyBytes(k));
  const p2pAddrs = peerIds.map((id, i) => `/ip4/${hostOf(i)}/tcp/${ports[2 * i]}/p2p/${id}`);

  const { genesis } = makeDevGenesis({
    chainId: opts.chainId ?? 'self-testnet-1',
    validators: keys,
    scheme,
    ...(opts.accounts ? { accounts: opts.accounts } : {}),
    genesisTime: opts.genesisTime ?? Date.now(),
    params: { committee_size: 0, timing: 'local', ...opts.params },
  });

  const nodes: TestnetNode[] = [];
  for (let i = 0; i < n; i++) {
    const name = `node${i}`;
    const home = join(out, name);
    writeHome(home, {
      config: {
        moniker: name,
        p2p: {
          listen: [`/ip4/${hostOf(i)}/tcp/${ports[2 * i]}`],
          bootstrap: p2pAddrs.filter((_, j) => j !== i),
        },
        api: { host: hostOf(i), port: ports[2 * i + 1] },
      },
      genesis,
      validatorPhrase: phrases[i]!,
      peerKey: peerKeys[i]!,
    });
    nodes.push({
      name,
      home,
      api_url: `http://${hostOf(i)}:${ports[2 * i + 1]}`,
      p2p_addr: p2pAddrs[i]!,
      peer_id: peerIds[i]!,
      validator: addressFromPublicKey(keys[i]!.publicKey),
    });
    opts.onProgress?.(i + 1, n);
  }
  return nodes;
}

function fixedPorts(base: number, n: number): number[] {
  if (!Number.isInteger(base) || base < 1024 || base + 2 * n > 65535)
    throw new ConfigError(`--base-port must leave room for ${2 * n} ports between 1024 and 65535`);
  return Array.from({ length: 2 * n }, (_, i) => base + i);
}

/** Ports the OS reports free right now (held open together, so they are distinct). */
export async function freePorts(host: string, count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<import('node:net').Server>((done, fail) => {
          const s = createServer();
          s.once('error', fail);
          s.listen(0, host, () => done(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as import('node:net').AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((done) => s.close(done))));
  return ports;
}
