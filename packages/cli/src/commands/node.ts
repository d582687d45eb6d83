import { Option, type Command } from 'commander';
import pino from 'pino';
import { ChainError, StoreError, type ByzantineBehaviour } from '@self/chain';
import type { SelfNode } from '@self/node';
import { CliError } from '../errors.js';

interface NodeOptions {
  home: string;
  byzantine?: string;
}

const BYZANTINE: Record<string, keyof ByzantineBehaviour> = {
  equivocate: 'equivocate',
  garbage: 'garbage',
  'invalid-state-root': 'invalidStateRoot',
  'inflate-efficiency': 'inflateEfficiency',
};

export function registerNode(program: Command): void {
  program
    .command('node')
    .description('run one SELF Chain node from its home directory: consensus, libp2p networking, HTTP API')
    .requiredOption(
      '--home <dir>',
      'node home made by `self testnet init` (config.json, genesis.json, keys/)',
    )
    .addOption(
      new Option(
        '--byzantine <faults>',
        'TEST ONLY: misbehave (equivocate,garbage,invalid-state-root)',
      ).hideHelp(),
    )
    .action(async (opts: NodeOptions) => {
      const json = program.opts<{ json?: boolean }>().json === true;
      // Loaded here, not at the top: `self --help` and `self status` need not load libp2p.
      const { ConfigError, SelfNode, loadHome } = await import('@self/node');
      let home;
      try {
        home = loadHome(opts.home);
      } catch (err) {
        if (err instanceof ConfigError) throw new CliError(err.message, 2);
        throw err;
      }
      const logger = pino(
        {
          name: `self-node:${home.config.moniker}`,
          level: process.env.SELF_LOG_LEVEL ?? home.config.log_level,
        },
        pino.destination(2),
      );
      let node: SelfNode;
      try {
        node = await SelfNode.start({
          config: home.config,
          genesis: home.genesis,
          validatorKey: home.validatorKey,
          peerKey: home.peerKey,
          chainDbPath: home.chainDbPath,
          logger,
          ...(opts.byzantine ? { byzantine: parseByzantine(opts.byzantine) } : {}),
        });
      } catch (err) {
        if (err instanceof StoreError || err instanceof ChainError)
          throw new CliError(`${err.message} (the data in ${home.dir}/data does not match this genesis?)`);
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
          throw new CliError(`${(err as Error).message}: another process uses this port; change config.json`);
        throw err;
      }
      const info = node.info();
      const ready = {
        event: 'ready',
        api_url: node.apiUrl(),
        peer_id: info.peerId,
        height: node.chain.latestHeight(),
      };
      if (json) console.log(JSON.stringify(ready));
      else console.log(`node ${home.config.moniker} ready: API ${ready.api_url}, peer ${ready.peer_id}`);
      await new Promise<void>((done) => {
        const stop = (signal: string): void => {
          logger.info({ signal }, 'shutting down');
          node.stop().then(done, (err: unknown) => {
            logger.error({ err }, 'shutdown failed');
            done();
          });
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}

function parseByzantine(list: string): ByzantineBehaviour {
  const out: ByzantineBehaviour = {};
  for (const name of list.split(',').map((s) => s.trim())) {
    const key = BYZANTINE[name];
    if (!key)
      throw new CliError(
        `unknown --byzantine fault "${name}" (one of ${Object.keys(BYZANTINE).join(', ')})`,
        2,
      );
    out[key] = true;
  }
  return out;
}
