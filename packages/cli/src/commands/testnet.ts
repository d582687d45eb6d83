import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { progressBar } from '../progress.js';

interface InitOptions {
  validators: string;
  out: string;
  chainId: string;
  scheme: string;
  basePort: string;
  host: string;
}

export function registerTestnet(program: Command): void {
  const testnet = program.command('testnet').description('make and run multi-node SELF Chain test networks');
  testnet
    .command('init')
    .description('write genesis, keys and config for N validator nodes on this machine (prints a JSON array)')
    .option('--validators <n>', 'number of validator nodes', '4')
    .option('--out <dir>', 'output directory (node0 … nodeN-1 are created in it)', './testnet')
    .option('--chain-id <id>', 'chain id', 'self-testnet-1')
    .option('--scheme <scheme>', 'validator key scheme: hybrid (Ed25519 + ML-DSA-65) or ed25519', 'hybrid')
    .option('--host <ip>', 'address nodes listen on', '127.0.0.1')
    .option(
      '--base-port <n>',
      'node K uses ports base+2K (p2p) and base+2K+1 (API); 0 picks free ports',
      '26656',
    )
    .action(async (opts: InitOptions) => {
      const validators = Number(opts.validators);
      const basePort = Number(opts.basePort);
      if (!Number.isInteger(validators) || validators < 1 || validators > 64)
        throw new CliError('--validators must be an integer from 1 to 64', 2);
      if (!Number.isInteger(basePort) || basePort < 0 || basePort > 65535)
        throw new CliError('--base-port must be 0-65535', 2);
      if (opts.scheme !== 'hybrid' && opts.scheme !== 'ed25519')
        throw new CliError('--scheme must be hybrid or ed25519', 2);
      if (!/^[a-z0-9][a-z0-9-]{0,47}$/.test(opts.chainId))
        throw new CliError('--chain-id must be lowercase letters, digits and dashes', 2);
      const { ConfigError, initTestnet } = await import('@self/node');
      const bar = progressBar('writing node homes', validators);
      try {
        const nodes = await initTestnet({
          validators,
          out: opts.out,
          chainId: opts.chainId,
          scheme: opts.scheme === 'ed25519' ? 'ed25519' : 'hybrid-ed25519-ml-dsa-65',
          host: opts.host,
          basePort,
          onProgress: (done) => bar.update(done),
        });
        bar.stop();
        console.log(JSON.stringify(nodes, null, 2));
      } catch (err) {
        bar.stop();
        if (err instanceof ConfigError) throw new CliError(err.message, 2);
        throw err;
      }
    });
}
