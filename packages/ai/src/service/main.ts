import pino from 'pino';
import { parseServeConfig, type ServeConfig } from './config.js';
import { startInferenceService } from './server.js';

/**
 * `self-ai serve`: the inference service as a process. It reads one JSON config line on stdin
 * (ServeConfig, key included), prints `{"event":"ready","url":…}` on stdout once listening, logs
 * pino JSON on stderr, and exits on SIGTERM, SIGINT, or when stdin closes (its parent is gone).
 */

const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

function readConfigLine(): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      const nl = buffered.indexOf('\n');
      if (nl !== -1) {
        cleanup();
        resolve(buffered.slice(0, nl));
      } else if (buffered.length > MAX_CONFIG_BYTES) {
        cleanup();
        reject(new Error('the config line is too long'));
      }
    };
    const onEnd = (): void => {
      cleanup();
      if (buffered.trim() !== '') resolve(buffered);
      else reject(new Error('stdin closed before the config line'));
    };
    const cleanup = (): void => {
      process.stdin.off('data', onData);
      process.stdin.off('end', onEnd);
    };
    process.stdin.on('data', onData);
    process.stdin.on('end', onEnd);
  });
}

async function serve(): Promise<void> {
  let config: ServeConfig;
  try {
    config = parseServeConfig(JSON.parse(await readConfigLine()));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stdout.write(`${JSON.stringify({ event: 'error', message })}\n`);
    process.stderr.write(`self-ai: ${message}\n`);
    process.exit(2);
  }
  const logger = pino(
    { level: config.logLevel ?? 'info', base: { service: 'self-ai' } },
    pino.destination(2),
  );
  const service = await startInferenceService({
    catalogue: config.catalogue,
    cacheDir: config.cacheDir,
    logger,
    ...(config.allowTestModels !== undefined ? { allowTestModels: config.allowTestModels } : {}),
    ...(config.key !== undefined ? { key: config.key } : {}),
    ...(config.port !== undefined ? { port: config.port } : {}),
    ...(config.host !== undefined ? { host: config.host } : {}),
    ...(config.gpu !== undefined ? { gpu: config.gpu } : {}),
    ...(config.threads !== undefined ? { threads: config.threads } : {}),
    ...(config.maxConcurrent !== undefined ? { maxConcurrent: config.maxConcurrent } : {}),
    ...(config.queueLimit !== undefined ? { queueLimit: config.queueLimit } : {}),
    ...(config.download !== undefined ? { download: config.download } : {}),
    ...(config.preload !== undefined ? { preload: config.preload } : {}),
  });
  let stopping = false;
  const stop = (why: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ why }, 'stopping');
    // Streams in flight get a moment to finish; then the process goes regardless.
    setTimeout(() => process.exit(0), 5000).unref();
    service.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'close failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.stdin.on('end', () => stop('stdin closed'));
  process.stdin.resume();
  logger.info({ url: service.url, models: config.catalogue.models.map((m) => m.id) }, 'listening');
  process.stdout.write(`${JSON.stringify({ event: 'ready', url: service.url })}\n`);
}

const command = process.argv[2];
if (command === 'serve') {
  serve().catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    process.stdout.write(`${JSON.stringify({ event: 'error', message })}\n`);
    process.stderr.write(`self-ai: ${err instanceof Error ? (err.stack ?? message) : message}\n`);
    process.exit(1);
  });
} else {
  process.stderr.write('usage: self-ai serve  (reads one JSON config line on stdin)\n');
  process.exit(2);
}
