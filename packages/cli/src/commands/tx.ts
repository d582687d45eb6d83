import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  accountKeysFromSeed,
  addressFromPublicKey,
  fromHex,
  isAddress,
  isValidRecoveryPhrase,
  recoveryPhraseToSeed,
  type AccountScheme,
  type SigningKey,
} from '@self/crypto';
import {
  ChainError,
  DEV_FAUCET_PHRASE,
  decodeSignedTransaction,
  encodeSignedTransaction,
  senderOf,
  signTransaction,
  type SignedTransaction,
  type Transaction,
} from '@self/chain';
import { NodeApiError, type NodeClient } from '@self/node/client';
import { CliError } from '../errors.js';
import { addNodeOption, fromNode, nodeClient, wantsJson } from './status.js';

interface SubmitOptions {
  node?: string;
  wait?: boolean;
  waitTimeout: string;
}

interface TransferOptions extends SubmitOptions {
  to?: string;
  amount?: string;
  key?: string;
  phraseEnv?: string;
  scheme: string;
  price: string;
  nonce?: string;
}

interface FaucetOptions extends SubmitOptions {
  to?: string;
  amount: string;
  scheme: string;
  price: string;
}

interface SendOptions extends SubmitOptions {
  file?: string;
}

/** Test tokens per `self tx faucet` unless --amount says otherwise. */
const FAUCET_AMOUNT = '1000000';

export function registerTx(program: Command): void {
  const tx = program
    .command('tx')
    .description('sign and submit SELF Chain transactions through a node (keys never leave this machine)');

  const transfer = tx
    .command('transfer')
    .description('send tokens from your account to an address')
    .option('--to <address>', 'recipient address (self1…)')
    .option('--amount <n>', 'amount in base units (a positive whole number)')
    .option('--key <file>', 'file with the sender’s 24-word recovery phrase (or `self keys new` JSON)')
    .option('--phrase-env <var>', 'environment variable holding the sender’s recovery phrase')
    .option(
      '--scheme <scheme>',
      'key scheme: auto (the one with an account on chain), hybrid or ed25519',
      'auto',
    )
    .option('--price <n>', 'point price (fee per point, in base units)', '1')
    .option('--nonce <n>', 'nonce to use (default: the account’s next, from the node)');
  addSubmitOptions(transfer).action(async (opts: TransferOptions) => {
    const to = parseAddress(opts.to);
    const amount = parseWhole(opts.amount, '--amount', 1);
    const price = parseWhole(opts.price, '--price', 1);
    const nonce = opts.nonce === undefined ? undefined : parseWhole(opts.nonce, '--nonce', 1);
    const wait = parseWait(opts);
    const scheme = parseScheme(opts.scheme);
    const secret = loadPhrase(opts);
    const client = nodeClient(opts.node);
    const status = await fromNode(client.status());
    // An explicit --scheme wins over the scheme a `self keys new` JSON file names.
    const sender = await chooseKey(
      client,
      secret.phrase,
      scheme === 'auto' ? (secret.scheme ?? 'auto') : scheme,
    );
    const stx = signTransfer(status.chain_id, sender, { to, amount, price, nonce });
    await submit(program, client, stx, wait);
  });

  const faucet = tx
    .command('faucet')
    .description(
      'get test tokens: a transfer from the testnet faucet, whose key is public (test chains only)',
    )
    .option('--to <address>', 'address to fund (self1…)')
    .option('--amount <n>', 'amount in base units', FAUCET_AMOUNT)
    .option('--scheme <scheme>', 'faucet key scheme: auto, hybrid or ed25519', 'auto')
    .option('--price <n>', 'point price', '1');
  addSubmitOptions(faucet).action(async (opts: FaucetOptions) => {
    const to = parseAddress(opts.to);
    const amount = parseWhole(opts.amount, '--amount', 1);
    const price = parseWhole(opts.price, '--price', 1);
    const wait = parseWait(opts);
    const scheme = parseScheme(opts.scheme);
    const client = nodeClient(opts.node);
    const status = await fromNode(client.status());
    const sender = await chooseKey(client, DEV_FAUCET_PHRASE, scheme);
    if (!sender.account || sender.account.balance <= 0)
      throw new CliError(
        `the chain ${status.chain_id} has no funded faucet (the account of the public dev faucet phrase); ` +
          'faucets exist only on test networks made by `self testnet init` or `self up`',
      );
    const stx = signTransfer(status.chain_id, sender, { to, amount, price });
    await submit(program, client, stx, wait);
  });

  const send = tx
    .command('send')
    .description('submit an already signed transaction (hex of its encoding)')
    .option('--file <path>', 'file with the signed transaction in hex, or - for standard input');
  addSubmitOptions(send).action(async (opts: SendOptions) => {
    const wait = parseWait(opts);
    if (!opts.file) throw new CliError('--file is required (a file with the signed transaction in hex)', 2);
    const stx = readSignedTransaction(opts.file);
    await submit(program, nodeClient(opts.node), stx, wait);
  });
}

function addSubmitOptions(cmd: Command): Command {
  return addNodeOption(cmd)
    .option('--wait', 'wait until the transaction is committed and print its height')
    .option('--wait-timeout <seconds>', 'give up waiting after this long', '60');
}

// ---------------------------------------------------------------- input

function parseAddress(value: string | undefined): string {
  if (value === undefined) throw new CliError('--to is required (the recipient’s self1… address)', 2);
  // The value is not echoed: people paste secrets into the wrong field.
  if (!isAddress(value))
    throw new CliError('--to is not a SELF address (self1 followed by 38 characters)', 2);
  return value;
}

function parseWhole(value: string | undefined, flag: string, min: number): number {
  if (value === undefined) throw new CliError(`${flag} is required`, 2);
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min)
    throw new CliError(`${flag} must be a whole number ≥ ${min} (at most 2^53 - 1), got "${value}"`, 2);
  return n;
}

interface Wait {
  enabled: boolean;
  timeoutMs: number;
}

function parseWait(opts: SubmitOptions): Wait {
  const seconds = Number(opts.waitTimeout);
  if (!Number.isFinite(seconds) || seconds <= 0)
    throw new CliError(`--wait-timeout must be a positive number of seconds, got "${opts.waitTimeout}"`, 2);
  return { enabled: opts.wait === true, timeoutMs: seconds * 1000 };
}

type SchemeChoice = AccountScheme | 'auto';

function parseScheme(value: string): SchemeChoice {
  if (value === 'auto') return 'auto';
  if (value === 'hybrid') return 'hybrid-ed25519-ml-dsa-65';
  if (value === 'ed25519') return 'ed25519';
  throw new CliError(`unknown scheme "${value}": use auto, hybrid or ed25519`, 2);
}

/** The sender's phrase from --key or --phrase-env; a `self keys new` JSON file also names its scheme. */
function loadPhrase(opts: TransferOptions): { phrase: string; scheme?: AccountScheme } {
  if (opts.key !== undefined && opts.phraseEnv !== undefined)
    throw new CliError('give either --key or --phrase-env, not both', 2);
  let text: string;
  let source: string;
  if (opts.key !== undefined) {
    source = opts.key;
    try {
      text = readFileSync(opts.key, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new CliError(
        `cannot read the key file ${opts.key}${code === 'ENOENT' ? ': no such file' : `: ${code}`}`,
        2,
      );
    }
  } else if (opts.phraseEnv !== undefined) {
    source = `$${opts.phraseEnv}`;
    const value = process.env[opts.phraseEnv];
    if (!value) throw new CliError(`the environment variable ${opts.phraseEnv} is not set`, 2);
    text = value;
  } else {
    throw new CliError(
      'say which key signs: --key <file> or --phrase-env <var> (a 24-word recovery phrase)',
      2,
    );
  }
  let phrase = text.trim();
  let scheme: AccountScheme | undefined;
  if (phrase.startsWith('{')) {
    try {
      const json = JSON.parse(phrase) as { recovery_phrase?: unknown; scheme?: unknown };
      if (typeof json.recovery_phrase === 'string') phrase = json.recovery_phrase;
      if (json.scheme === 'ed25519' || json.scheme === 'hybrid-ed25519-ml-dsa-65') scheme = json.scheme;
    } catch {
      // Not JSON after all: judged as a phrase below.
    }
  }
  if (!isValidRecoveryPhrase(phrase))
    throw new CliError(`${source} does not hold a valid 24-word recovery phrase`, 2);
  return { phrase, ...(scheme ? { scheme } : {}) };
}

function readSignedTransaction(file: string): SignedTransaction {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 2);
  }
  const hex = text.trim().toLowerCase().replace(/^0x/, '');
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9a-f]+$/.test(hex))
    throw new CliError(`${file} does not hold a hex-encoded transaction`, 2);
  try {
    return decodeSignedTransaction(fromHex(hex));
  } catch (err) {
    if (err instanceof ChainError)
      throw new CliError(`${file} is not a signed SELF transaction: ${err.message} (${err.code})`, 2);
    throw err;
  }
}

// ---------------------------------------------------------------- keys and signing

interface Sender {
  key: SigningKey;
  address: string;
  /** The account on chain, or null when the node has none. */
  account: { balance: number; nonce: number } | null;
}

/**
 * The phrase's key in the given scheme, or with `auto` the scheme whose account exists on chain
 * (hybrid first: the default of `self keys new`), with that account's balance and nonce.
 */
async function chooseKey(client: NodeClient, phrase: string, choice: SchemeChoice): Promise<Sender> {
  const seed = recoveryPhraseToSeed(phrase);
  const schemes: AccountScheme[] = choice === 'auto' ? ['hybrid-ed25519-ml-dsa-65', 'ed25519'] : [choice];
  const senders = await Promise.all(
    schemes.map(async (scheme): Promise<Sender> => {
      const key = accountKeysFromSeed(seed, scheme).account;
      const address = addressFromPublicKey(key.publicKey);
      return { key, address, account: await findAccount(client, address) };
    }),
  );
  const live = senders.find((s) => s.account && (s.account.balance > 0 || s.account.nonce > 0));
  return live ?? senders[0]!;
}

async function findAccount(client: NodeClient, address: string): Promise<Sender['account']> {
  try {
    const a = await client.account(address);
    return { balance: Number(a.balance), nonce: Number(a.nonce) };
  } catch (err) {
    if (err instanceof NodeApiError && err.status === 404) return null;
    return fromNode(Promise.reject(err));
  }
}

function signTransfer(
  chainId: string,
  sender: Sender,
  t: { to: string; amount: number; price: number; nonce?: number | undefined },
): SignedTransaction<'transfer'> {
  const tx: Transaction<'transfer'> = {
    v: 1,
    chain_id: chainId,
    kind: 'transfer',
    nonce: t.nonce ?? (sender.account?.nonce ?? 0) + 1,
    point_price: t.price,
    body: { to: t.to, amount: t.amount },
  };
  return signTransaction(tx, sender.key);
}

// ---------------------------------------------------------------- submission

/** Submits, optionally waits for the commit, and prints the hash (and height) or, with --json, a record. */
async function submit(
  program: Command,
  client: NodeClient,
  stx: SignedTransaction,
  wait: Wait,
): Promise<void> {
  const { hash } = await fromNode(client.submitTransaction(encodeSignedTransaction(stx)));
  const out: Record<string, unknown> = { hash, status: 'pending', from: senderOf(stx), kind: stx.tx.kind };
  if (stx.tx.kind === 'transfer') {
    const { to, amount } = (stx.tx as Transaction<'transfer'>).body;
    Object.assign(out, { to, amount });
  }
  Object.assign(out, { nonce: stx.tx.nonce, point_price: stx.tx.point_price });
  if (wait.enabled) {
    const committed = await fromNode(client.waitForTransaction(hash, { timeoutMs: wait.timeoutMs }));
    Object.assign(out, { status: 'committed', height: committed.height, index: committed.index });
  }
  if (wantsJson(program)) console.log(JSON.stringify(out));
  else if (wait.enabled) console.log(`${hash}\ncommitted at height ${String(out.height)}`);
  else console.log(hash);
}
