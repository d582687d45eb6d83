import type { Command } from 'commander';
import { accountKeysFromPhrase, isValidRecoveryPhrase, newRecoveryPhrase } from '@self/crypto';
import { CliError } from '../errors.js';

interface KeysNewOptions {
  scheme: string;
}

export function registerKeys(program: Command): void {
  const keys = program
    .command('keys')
    .description('create and inspect SELF keys (made on this device, never sent anywhere)');

  keys
    .command('new')
    .description('make a new 24-word recovery phrase and print it with its address and DID')
    .option('--scheme <scheme>', 'account key scheme: hybrid (Ed25519 + ML-DSA-65) or ed25519', 'hybrid')
    .action((opts: KeysNewOptions) => {
      const scheme = parseScheme(opts.scheme);
      const phrase = newRecoveryPhrase();
      printIdentity(program, phrase, scheme, true);
    });

  keys
    .command('show')
    .description('derive the address and DID of a recovery phrase read from standard input')
    .option('--scheme <scheme>', 'account key scheme: hybrid or ed25519', 'hybrid')
    .action(async (opts: KeysNewOptions) => {
      const scheme = parseScheme(opts.scheme);
      const phrase = (await readStdin()).trim();
      if (!isValidRecoveryPhrase(phrase)) {
        throw new CliError('that is not a valid 24-word recovery phrase: check the words and their order');
      }
      printIdentity(program, phrase, scheme, false);
    });
}

function parseScheme(value: string): 'hybrid-ed25519-ml-dsa-65' | 'ed25519' {
  if (value === 'hybrid') return 'hybrid-ed25519-ml-dsa-65';
  if (value === 'ed25519') return 'ed25519';
  throw new CliError(`unknown scheme "${value}": use hybrid or ed25519`, 2);
}

function printIdentity(
  program: Command,
  phrase: string,
  scheme: 'hybrid-ed25519-ml-dsa-65' | 'ed25519',
  includePhrase: boolean,
): void {
  const keys = accountKeysFromPhrase(phrase, scheme);
  const out = {
    ...(includePhrase ? { recovery_phrase: phrase } : {}),
    address: keys.address,
    did: keys.did,
    scheme: keys.account.scheme,
  };
  // Always JSON: the phrase is meant to be captured by a wallet or a script, and printed once.
  console.log(JSON.stringify(out, null, program.opts<{ json?: boolean }>().json ? 0 : 2));
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY)
    throw new CliError('pipe the recovery phrase on standard input, e.g. `self keys show < phrase.txt`');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
