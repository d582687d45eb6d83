import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import type { Catalogue, SpawnedInferenceService } from '@self/ai';
import type { CloudAiConfig } from '@self/cloud';
import { modelCacheDir } from './commands/ai.js';
import { CliError } from './errors.js';
import { freePort } from './free-port.js';

/**
 * The private AI half of `self up`: the inference service as a child process (it loads each model
 * once and serves every instance; a crash of it never takes the cloud down), restarted on the same
 * port with the same key when it dies, so the instances' connection stays valid.
 */

export interface AiStackOptions {
  dataDir: string;
  /** A GGUF path or model URI that serves every tier. */
  model?: string;
  /** A catalogue file (models per tier, upstream servers; docs/ai.md). */
  catalogue?: string;
  /** An OpenAI-compatible server's base URL that serves every tier. */
  upstream?: string;
  upstreamModel?: string;
  /** The context window for --upstream (it cannot be asked); default 8192. */
  upstreamContext?: number;
  /** Serve models marked as test fixtures (tests and benchmarks only). */
  allowTestModel: boolean;
  /** CPU threads per model (default: the runtime's choice). */
  threads?: number;
  logger: Logger;
}

export interface ModelLine {
  tier: string;
  model: string | null;
  state: string;
  reason?: string;
}

export interface AiStack {
  config: CloudAiConfig;
  /** Which model serves each tier, and whether it can answer now. */
  describe(): Promise<ModelLine[]>;
  close(): Promise<void>;
}

/** Restarts allowed in a minute before the service is left down (a crash loop helps nobody). */
const MAX_RESTARTS_PER_MINUTE = 5;

async function chooseCatalogue(opts: AiStackOptions): Promise<{ catalogue: Catalogue; origin: string }> {
  const ai = await import('@self/ai');
  try {
    if (opts.catalogue !== undefined)
      return { catalogue: await ai.loadCatalogueFile(opts.catalogue), origin: opts.catalogue };
    if (opts.model !== undefined) return { catalogue: ai.catalogueForModel(opts.model), origin: opts.model };
    if (opts.upstream !== undefined) {
      const id = opts.upstreamModel ?? 'default';
      return {
        catalogue: ai.parseCatalogue({
          models: [
            {
              id,
              runtime: 'upstream',
              baseUrl: opts.upstream,
              upstreamModel: id,
              // Ollama and llama.cpp's server need no key: ask for one only when it is given.
              ...(process.env.SELF_AI_UPSTREAM_KEY ? { apiKey: 'env:SELF_AI_UPSTREAM_KEY' } : {}),
              contextSize: opts.upstreamContext ?? 8192,
            },
          ],
          tiers: { free: [id], growth: [id], pro: [id], enterprise: [id] },
          embeddingModel: null,
        }),
        origin: opts.upstream,
      };
    }
  } catch (err) {
    if (err instanceof ai.CatalogueError) throw new CliError(err.message, 2);
    throw err;
  }
  return { catalogue: ai.defaultCatalogue(), origin: 'the default catalogue' };
}

export async function startAiStack(opts: AiStackOptions): Promise<AiStack> {
  const ai = await import('@self/ai');
  const { catalogue, origin } = await chooseCatalogue(opts);
  const cacheDir = modelCacheDir(opts.dataDir);
  const log = opts.logger.child({ component: 'ai' });
  const port = await freePort('127.0.0.1');
  const config = {
    catalogue,
    cacheDir,
    allowTestModels: opts.allowTestModel,
    host: '127.0.0.1',
    port,
    logLevel: 'warn' as const,
    // llama.cpp's threads wait on each other every token; on a machine it shares with the
    // validators, the gateway and the instances, using every core made generation 10-70x slower
    // (measured on 2 cores: 1 thread 128 ms per reply, 2 threads 1.5 s, all cores ~10 s).
    threads: opts.threads ?? Math.max(1, Math.floor(availableParallelism() / 2)),
  };

  let closing = false;
  let restarts: number[] = [];
  let current: SpawnedInferenceService | null = null;
  const key = randomBytes(32).toString('base64url');
  const spawnOnce = async (): Promise<SpawnedInferenceService> =>
    ai.spawnInferenceService(
      { ...config, key },
      {
        onLog: (line) => log.warn({ line }, 'inference service'),
        onExit: (code, signal) => {
          if (closing) return;
          const now = Date.now();
          restarts = restarts.filter((t) => now - t < 60_000);
          if (restarts.length >= MAX_RESTARTS_PER_MINUTE) {
            log.error(
              { code, signal },
              'the inference service keeps failing; the AI stays off until `self up` restarts',
            );
            return;
          }
          restarts.push(now);
          log.warn({ code, signal }, 'the inference service stopped; restarting it');
          setTimeout(() => {
            if (closing) return;
            spawnOnce().then(
              (s) => {
                current = s;
              },
              (err: unknown) =>
                log.error({ err: (err as Error).message }, 'restarting the inference service failed'),
            );
          }, 500).unref();
        },
      },
    );
  current = await spawnOnce();
  log.info({ origin, url: current.url }, 'inference service up');

  // Models given as URIs that are not in the cache yet are fetched in the background: the cloud is
  // usable at once, and chat answers "model not downloaded yet" until the file is in place.
  for (const m of catalogue.models) {
    if (m.runtime !== 'embedded' || !ai.isModelUri(m.source)) continue;
    if (existsSync(ai.resolveModelFile(m.source, cacheDir))) continue;
    if (!catalogue.tiers.free.includes(m.id) && origin === 'the default catalogue') continue;
    let lastTenth = -1;
    ai.downloadModel(m.source, {
      cacheDir,
      onProgress: (done, total) => {
        if (total === null || total <= 0) return;
        const tenth = Math.floor((done / total) * 10);
        if (tenth !== lastTenth) {
          lastTenth = tenth;
          log.info({ model: m.id, percent: tenth * 10 }, 'downloading model');
        }
      },
    }).then(
      (path) => log.info({ model: m.id, path }, 'model downloaded'),
      (err: unknown) =>
        log.warn(
          { model: m.id, source: m.source, err: (err as Error).message },
          `model ${m.id} could not be downloaded (offline?); chat stays off for its tiers until \`self ai pull ${m.source}\` or \`self up --model <file.gguf>\``,
        ),
    );
  }

  const client = () => new ai.InferenceClient({ url: current!.url, key });
  return {
    config: {
      url: current.url,
      key,
      tiers: catalogue.tiers,
      embeddingModel: catalogue.embeddingModel,
    },
    async describe() {
      let entries: Awaited<ReturnType<ReturnType<typeof client>['models']>> = [];
      try {
        entries = await client().models();
      } catch (err) {
        return [{ tier: '*', model: null, state: 'unavailable', reason: (err as Error).message }];
      }
      return ai.TIERS.map((tier) => {
        const id = catalogue.tiers[tier][0];
        if (id === undefined) return { tier, model: null, state: 'none' };
        const e = entries.find((x) => x.id === id);
        return {
          tier,
          model: id,
          state: e?.state ?? 'unavailable',
          ...(e?.unavailable_reason === undefined ? {} : { reason: e.unavailable_reason }),
        };
      });
    },
    async close() {
      closing = true;
      await current?.stop();
    },
  };
}
