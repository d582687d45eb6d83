import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { toHex } from '@self/crypto';
import { ChainError, StoreError } from '@self/chain';
import type { NodeEvent, NodeHome, SelfNode } from '@self/node';
import { type AiStack, type ModelLine, startAiStack } from '../ai-stack.js';
import { type CloudStack, cloudPaths, startCloudStack } from '../cloud-stack.js';
import { CliError } from '../errors.js';
import { createLogger } from '../logger.js';

interface UpOptions {
  data: string;
  port: string;
  validators: string;
  /** commander's negation of --no-rate-limit */
  rateLimit: boolean;
  model?: string;
  aiCatalogue?: string;
  aiUpstream?: string;
  aiUpstreamModel?: string;
  aiThreads?: string;
  allowTestModel?: boolean;
  /** commander's negation of --no-ai */
  ai: boolean;
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description(
      'start a whole SELF cloud on this machine: a 4-validator SELF Chain on libp2p, the gateway (sign-up, sign-in, chain API) and the instance manager, all on one HTTP port',
    )
    .option('--data <dir>', 'data directory (node homes: genesis, keys, chain databases)', './.self')
    .option('--port <n>', 'HTTP port of the cloud (gateway and chain API); 0 picks a free one', '8080')
    .option('--validators <n>', 'validators in the local chain (used when the data directory is new)', '4')
    .option('--no-rate-limit', "turn the gateway's per-person and per-IP rate limits off (benchmarks only)")
    .option(
      '--model <path-or-uri>',
      'the GGUF model that serves every tier: a file, https://…/x.gguf or hf:<owner>/<repo>/<file> ' +
        '(downloaded into <data>/models in the background); default: $SELF_AI_MODEL, else the default catalogue (docs/ai.md)',
    )
    .option(
      '--ai-catalogue <file>',
      'a model catalogue (JSON): models per tier, embedded or upstream (docs/ai.md)',
    )
    .option(
      '--ai-upstream <url>',
      'serve every tier from an OpenAI-compatible server (Ollama, vLLM, llama.cpp server); key from $SELF_AI_UPSTREAM_KEY',
    )
    .option('--ai-upstream-model <name>', 'the model name on the --ai-upstream server')
    .option('--ai-threads <n>', 'CPU threads per model (default: the runtime picks)')
    .option('--allow-test-model', "serve the project's scripted test model (tests and benchmarks only)")
    .option('--no-ai', 'start no inference service (chat answers ai_unavailable)')
    .action(async (opts: UpOptions) => {
      const json = program.opts<{ json?: boolean }>().json === true;
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new CliError(`--port must be 0-65535, got "${opts.port}"`, 2);
      const count = Number(opts.validators);
      if (!Number.isInteger(count) || count < 1 || count > 16)
        throw new CliError('--validators must be 1-16', 2);
      const dataDir = resolve(opts.data);
      const { ConfigError, SelfNode } = await import('@self/node');
      const log = createLogger('self-up');
      const homes = await loadOrCreateHomes(join(dataDir, 'testnet'), count);
      log.info(
        { dataDir, chainId: homes[0]!.genesis.chain_id, validators: homes.length, port },
        'starting SELF',
      );

      const printBlock = (e: NodeEvent): void => {
        if (e.type !== 'block') return;
        const line = {
          height: e.height,
          hash: toHex(e.hash),
          round: e.round,
          txs: e.block.txs.length,
          proposer: e.block.header.proposer,
          efficiency: e.block.header.efficiency,
          timestamp: new Date(e.block.header.timestamp).toISOString(),
        };
        if (json) console.log(JSON.stringify(line));
        else
          console.log(
            `block ${line.height}  ${line.hash.slice(0, 16)}…  round ${line.round}  ${line.txs} txs  proposer ${line.proposer}`,
          );
      };
      const nodes: SelfNode[] = [];
      let cloud: CloudStack | null = null;
      let ai: AiStack | null = null;
      const stopAll = async (): Promise<void> => {
        await cloud?.close();
        await ai?.close();
        for (const n of nodes.reverse()) await n.stop();
      };
      try {
        for (const [i, home] of homes.entries()) {
          // In one process the nodes find each other by dialling; ports are the OS's choice. The
          // first node's API sits behind the gateway, which applies its own per-client limits.
          const config = {
            ...home.config,
            p2p: { ...home.config.p2p, listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [] },
            api: {
              ...home.config.api,
              host: '127.0.0.1',
              port: 0,
              rate_limit: { ...home.config.api.rate_limit, allow: ['127.0.0.1', '::ffff:127.0.0.1', '::1'] },
            },
            verify_threads: 1,
          };
          const node = await SelfNode.start({
            config,
            genesis: home.genesis,
            validatorKey: home.validatorKey,
            peerKey: home.peerKey,
            chainDbPath: home.chainDbPath,
            logger: log.child({ node: i }),
            api: i === 0,
          });
          nodes.push(node);
          // Node 0 prints every block from the first: with three validators up the chain may commit
          // before the fourth has started.
          if (i === 0) node.subscribe(printBlock);
          for (const other of nodes.slice(0, -1))
            for (const addr of other.info().listenAddrs) await node.dial(addr).catch(() => undefined);
        }
        if (opts.ai) {
          const model = opts.model ?? (process.env.SELF_AI_MODEL || undefined);
          const threads = opts.aiThreads === undefined ? undefined : Number(opts.aiThreads);
          if (threads !== undefined && (!Number.isInteger(threads) || threads < 1 || threads > 256))
            throw new CliError('--ai-threads must be 1-256', 2);
          ai = await startAiStack({
            dataDir,
            ...(model === undefined ? {} : { model }),
            ...(opts.aiCatalogue === undefined ? {} : { catalogue: opts.aiCatalogue }),
            ...(opts.aiUpstream === undefined ? {} : { upstream: opts.aiUpstream }),
            ...(opts.aiUpstreamModel === undefined ? {} : { upstreamModel: opts.aiUpstreamModel }),
            ...(threads === undefined ? {} : { threads }),
            allowTestModel: opts.allowTestModel === true,
            logger: log,
          });
        }
        cloud = await startCloudStack({
          dataDir,
          host: '127.0.0.1',
          port,
          chainApiUrl: nodes[0]!.apiUrl()!,
          genesis: homes[0]!.genesis,
          logger: log,
          rateLimit: opts.rateLimit,
          ai: ai?.config ?? null,
        });
      } catch (err) {
        await stopAll();
        if (err instanceof StoreError || err instanceof ChainError || err instanceof ConfigError)
          throw new CliError(
            `${err.message} (use another --data directory, or remove ${dataDir} to start over)`,
          );
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
          throw new CliError(`port ${port} is in use: choose another with --port`, 2);
        throw err;
      }
      const first = nodes[0]!;
      const url = cloud!.url;
      const operatorTokenFile = cloudPaths(dataDir).operatorToken;
      log.info({ url, height: first.chain.latestHeight() }, 'SELF is up');
      const models = ai === null ? [] : await ai.describe();
      // The handlers go in before the ready line: whoever reads it may signal at once.
      const stopped = new Promise<void>((done) => {
        const stop = (signal: string): void => {
          log.info({ signal }, 'shutting down');
          stopAll().then(done, (err: unknown) => {
            log.error({ err }, 'shutdown failed');
            done();
          });
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
      if (json)
        console.log(
          JSON.stringify({
            event: 'ready',
            api_url: url,
            operator_token_file: operatorTokenFile,
            ai: models,
          }),
        );
      else {
        console.error(
          `SELF is up at ${url}  (chain: ${url}/v1/status; sign up: self signup --server ${url}; Ctrl-C stops)`,
        );
        for (const line of describeAi(ai === null, models)) console.error(line);
      }
      await stopped;
    });
}

/** Node homes under `dir` (node0 …): made on first start with fresh keys, reused afterwards. */
async function loadOrCreateHomes(dir: string, count: number): Promise<NodeHome[]> {
  const { ConfigError, initTestnet, loadHome } = await import('@self/node');
  try {
    if (!existsSync(join(dir, 'node0', 'genesis.json'))) {
      await initTestnet({ validators: count, out: dir, chainId: 'self-local-1', basePort: 0 });
    }
    const homes: NodeHome[] = [];
    for (let i = 0; existsSync(join(dir, `node${i}`)); i++) homes.push(loadHome(join(dir, `node${i}`)));
    return homes;
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(`${err.message} (or remove ${dir} to start over)`);
    throw err;
  }
}

/** What the operator reads about the AI: which model answers each tier, and what to do if none can. */
export function describeAi(off: boolean, models: ModelLine[]): string[] {
  if (off) return ['AI: off (--no-ai): chat answers ai_unavailable; the rest of SELF works'];
  const lines = models.map((m) => {
    if (m.model === null) return `AI ${m.tier}: no model for this tier`;
    const why = m.reason === undefined ? '' : `: ${m.reason}`;
    return `AI ${m.tier}: ${m.model} (${m.state}${why})`;
  });
  if (models.some((m) => m.state === 'unavailable'))
    lines.push(
      'AI: models marked unavailable cannot answer yet; `self ai pull <uri>` downloads one, `self up --model <file.gguf>` serves a file',
    );
  return lines;
}
