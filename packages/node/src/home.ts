import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { accountKeysFromPhrase, fromHex, toHex, type AccountScheme, type SigningKey } from '@self/crypto';
import { genesisFromJSON, genesisToJSON, type Genesis } from '@self/chain';
import { ConfigError, parseNodeConfig, type NodeConfig } from './config.js';

/**
 * A node's home directory, like CometBFT's:
 *
 *   config.json             NodeConfig (ports, peers, limits)
 *   genesis.json            the chain's genesis
 *   keys/validator.phrase   24-word recovery phrase of the validator (consensus) key, mode 0600
 *   keys/peer.key           hex libp2p private key (the peer id), mode 0600
 *   data/chain.sqlite       blocks and state
 */
export const HOME_FILES = {
  config: 'config.json',
  genesis: 'genesis.json',
  validatorPhrase: join('keys', 'validator.phrase'),
  peerKey: join('keys', 'peer.key'),
  chainDb: join('data', 'chain.sqlite'),
} as const;

export interface NodeHome {
  dir: string;
  config: NodeConfig;
  genesis: Genesis;
  /** Consensus key; a node whose key is not in the validator set follows the chain without voting. */
  validatorKey: SigningKey;
  peerKey: Uint8Array;
  chainDbPath: string;
}

export interface NewHome {
  config: unknown;
  genesis: Genesis;
  validatorPhrase: string;
  peerKey: Uint8Array;
}

export function writeHome(dir: string, home: NewHome): void {
  const root = resolve(dir);
  if (existsSync(join(root, HOME_FILES.genesis)))
    throw new ConfigError(`${root} already holds a node home; choose another directory or remove it`);
  mkdirSync(join(root, 'keys'), { recursive: true, mode: 0o700 });
  mkdirSync(join(root, 'data'), { recursive: true, mode: 0o700 });
  writeFileSync(join(root, HOME_FILES.config), `${JSON.stringify(parseNodeConfig(home.config), null, 2)}\n`);
  writeFileSync(join(root, HOME_FILES.genesis), `${JSON.stringify(genesisToJSON(home.genesis), null, 2)}\n`);
  writeSecret(join(root, HOME_FILES.validatorPhrase), `${home.validatorPhrase}\n`);
  writeSecret(join(root, HOME_FILES.peerKey), `${toHex(home.peerKey)}\n`);
}

export function loadHome(dir: string): NodeHome {
  const root = resolve(dir);
  if (!existsSync(root))
    throw new ConfigError(`${root} does not exist; create it with \`self testnet init\``);
  const config = parseNodeConfig(readJson(join(root, HOME_FILES.config)));
  let genesis: Genesis;
  try {
    genesis = genesisFromJSON(readJson(join(root, HOME_FILES.genesis)));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(
      `${join(root, HOME_FILES.genesis)} is not a valid genesis: ${(err as Error).message}`,
    );
  }
  const phrase = readText(join(root, HOME_FILES.validatorPhrase));
  let peerKey: Uint8Array;
  try {
    peerKey = fromHex(readText(join(root, HOME_FILES.peerKey)));
  } catch {
    throw new ConfigError(`${join(root, HOME_FILES.peerKey)} is not a hex-encoded key`);
  }
  return {
    dir: root,
    config,
    genesis,
    validatorKey: validatorKeyFor(genesis, phrase),
    peerKey,
    chainDbPath: join(root, HOME_FILES.chainDb),
  };
}

/**
 * The phrase alone does not say which signature scheme its key uses: pick the one the genesis
 * lists as a validator, else the chain's first allowed scheme.
 */
export function validatorKeyFor(genesis: Genesis, phrase: string): SigningKey {
  const schemes: AccountScheme[] = ['hybrid-ed25519-ml-dsa-65', 'ed25519'];
  let keys: SigningKey[];
  try {
    keys = schemes.map((s) => accountKeysFromPhrase(phrase, s).account);
  } catch (err) {
    throw new ConfigError(`the validator recovery phrase is invalid: ${(err as Error).message}`);
  }
  const listed = keys.find((k) => genesis.validators.some((v) => toHex(v.public_key) === toHex(k.publicKey)));
  if (listed) return listed;
  const preferred = genesis.signature_schemes[0] ?? 'hybrid-ed25519-ml-dsa-65';
  return keys[schemes.indexOf(preferred)] ?? keys[0]!;
}

function readJson(path: string): unknown {
  const text = readText(path);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ConfigError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
}

function readText(path: string): string {
  if (!existsSync(path))
    throw new ConfigError(`missing ${path}; is this a node home made by \`self testnet init\`?`);
  return readFileSync(path, 'utf8').trim();
}

function writeSecret(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
}
