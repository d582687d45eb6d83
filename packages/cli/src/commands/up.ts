import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { accountKeysFromPhrase, newRecoveryPhrase, toHex, type SigningKey } from '@self/crypto';
import {
  ChainError,
  LocalTestnet,
  StoreError,
  genesisFromJSON,
  genesisToJSON,
  makeDevGenesis,
  type Genesis,
} from '@self/chain';
import { CliError } from '../errors.js';
import { createLogger } from '../logger.js';

interface UpOptions {
  data: string;
  port: string;
  validators: string;
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('start a whole SELF cloud on this machine (for now: a local 4-validator SELF Chain)')
    .option('--data <dir>', 'data directory (chain databases, genesis, validator keys)', './.self')
    .option('--port <n>', 'HTTP port for the cloud (used by the API from the next release on)', '8080')
    .option('--validators <n>', 'validators in the local chain', '4')
    .action(async (opts: UpOptions) => {
      const json = program.opts<{ json?: boolean }>().json === true;
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535)
        throw new CliError(`--port must be 1-65535, got "${opts.port}"`, 2);
      const count = Number(opts.validators);
      if (!Number.isInteger(count) || count < 1 || count > 16)
        throw new CliError('--validators must be 1-16', 2);
      const dataDir = resolve(opts.data);
      const log = createLogger('self-up');
      const { genesis, keys } = loadOrCreateLocalChain(dataDir, count);
      log.info(
        { dataDir, chainId: genesis.chain_id, validators: keys.length, port },
        'starting local SELF Chain',
      );

      const testnet = new LocalTestnet({
        genesis,
        validatorKeys: keys,
        dataDir: join(dataDir, 'chain'),
        onCommit: ({ node, height, round, hash, block }) => {
          if (node !== 0) return;
          const line = {
            height,
            hash: toHex(hash),
            round,
            txs: block.txs.length,
            proposer: block.header.proposer,
            efficiency: block.header.efficiency,
            timestamp: new Date(block.header.timestamp).toISOString(),
          };
          if (json) console.log(JSON.stringify(line));
          else
            console.log(
              `block ${height}  ${line.hash.slice(0, 16)}…  round ${round}  ${line.txs} txs  proposer ${line.proposer}`,
            );
        },
        onReject: ({ node, reason }) => log.debug({ node, reason }, 'message rejected'),
      });
      try {
        testnet.start();
      } catch (err) {
        if (err instanceof StoreError || err instanceof ChainError) {
          throw new CliError(
            `${err.message} (use another --data directory, or remove ${dataDir} to start over)`,
          );
        }
        throw err;
      }
      const height = testnet.validators[0]!.chain.latestHeight();
      log.info({ height }, height > 0 ? 'resumed from disk' : 'genesis created');

      await new Promise<void>((done) => {
        const stop = (signal: string): void => {
          log.info({ signal }, 'shutting down');
          testnet.stop();
          done();
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}

/**
 * The local chain's genesis and validator keys live in the data directory: made on first start
 * (random recovery phrases, files readable only by this user), reused afterwards.
 */
function loadOrCreateLocalChain(dataDir: string, count: number): { genesis: Genesis; keys: SigningKey[] } {
  const genesisPath = join(dataDir, 'genesis.json');
  const keysDir = join(dataDir, 'keys');
  if (existsSync(genesisPath)) {
    let genesis: Genesis;
    try {
      genesis = genesisFromJSON(JSON.parse(readFileSync(genesisPath, 'utf8')));
    } catch (err) {
      throw new CliError(`${genesisPath} is not a valid genesis file: ${(err as Error).message}`);
    }
    const keys = genesis.validators.map((_, i) => {
      const file = join(keysDir, `validator-${i}.phrase`);
      if (!existsSync(file))
        throw new CliError(`missing validator key ${file}; restore it or start over with a new --data`);
      return accountKeysFromPhrase(readFileSync(file, 'utf8').trim()).account;
    });
    return { genesis, keys };
  }
  mkdirSync(keysDir, { recursive: true, mode: 0o700 });
  const keys: SigningKey[] = [];
  for (let i = 0; i < count; i++) {
    const phrase = newRecoveryPhrase();
    const file = join(keysDir, `validator-${i}.phrase`);
    writeFileSync(file, `${phrase}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    keys.push(accountKeysFromPhrase(phrase).account);
  }
  const { genesis } = makeDevGenesis({
    chainId: 'self-local-1',
    validators: keys,
    genesisTime: Date.now() - 1_000,
    params: { committee_size: 0, timing: 'local' },
  });
  writeFileSync(genesisPath, `${JSON.stringify(genesisToJSON(genesis), null, 2)}\n`);
  return { genesis, keys };
}
