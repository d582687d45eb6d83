import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Catalogue } from './catalogue.js';
import { writeTestModel } from './gguf/test-model.js';
import type { FastifyBaseLogger } from 'fastify';
import { startInferenceService, type StartedInferenceService } from './service/server.js';

/**
 * Test helpers: the scripted test model on disk, and an inference service serving it. Tests of
 * every package use them to drive the real llama.cpp runtime end to end.
 */

/** node_modules/.cache/self-ai at the repository root (ignored by git, kept between runs). */
export const TEST_CACHE_DIR = fileURLToPath(
  new URL('../../../node_modules/.cache/self-ai/', import.meta.url),
);

/** The id the test model is served under. */
export const TEST_MODEL_ID = 'self-test';
/** The id of the long-reply variant (startTestInferenceService({ longModel: true })). */
export const TEST_LONG_MODEL_ID = 'self-test-long';
/**
 * The long variant's reply: 500 distinct words, streamed over a few seconds on a CPU, long enough
 * to disconnect, abort or kill a process while it streams.
 */
export const TEST_LONG_REPLY = Array.from({ length: 500 }, (_, i) => `w${i}`).join(' ');

const written = new Map<string, Promise<string>>();

/**
 * The test model's file, written once. Its name carries a hash of the scripts that write it, so
 * a change to them writes a new one; concurrent test processes write to temporary files and
 * rename, so none reads a half-written model. `'long'`: the variant that replies TEST_LONG_REPLY.
 */
export function testModelPath(variant: 'default' | 'long' = 'default'): Promise<string> {
  let job = written.get(variant);
  if (job) return job;
  job = (async () => {
    const sources = ['./gguf/test-model.ts', './gguf/writer.ts'].map((p) =>
      readFileSync(new URL(p, import.meta.url)),
    );
    const tag = createHash('sha256').update(Buffer.concat(sources)).digest('hex').slice(0, 12);
    const path = join(TEST_CACHE_DIR, `self-test-model-${variant === 'long' ? 'long-' : ''}${tag}.gguf`);
    const present = await stat(path).then(
      () => true,
      () => false,
    );
    if (!present) {
      await mkdir(TEST_CACHE_DIR, { recursive: true });
      const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
      try {
        await writeTestModel(tmp, variant === 'long' ? { reply: TEST_LONG_REPLY } : {});
        await rename(tmp, path);
      } finally {
        await rm(tmp, { force: true });
      }
    }
    return path;
  })();
  written.set(variant, job);
  job.catch(() => written.delete(variant));
  return job;
}

export interface TestInferenceServiceOptions {
  /** Context per request (default 2048). */
  contextSize?: number;
  maxConcurrent?: number;
  queueLimit?: number;
  /** Default: a random key. */
  key?: string;
  /** Default true; false shows how the product refuses the test model. */
  allowTestModels?: boolean;
  /** Serve the long-reply variant too, as `self-test-long`. */
  longModel?: boolean;
  /** More models next to `self-test` (e.g. an upstream). */
  extraModels?: Catalogue['models'];
  logger?: FastifyBaseLogger;
  bodyLimit?: number;
}

/**
 * An inference service on 127.0.0.1 serving the test model as `self-test` (embeddings on) on the
 * CPU with one thread, loaded before it returns.
 */
export async function startTestInferenceService(
  opts: TestInferenceServiceOptions = {},
): Promise<StartedInferenceService> {
  const path = await testModelPath();
  const extra: Catalogue['models'] = [];
  if (opts.longModel)
    extra.push({
      id: TEST_LONG_MODEL_ID,
      runtime: 'embedded',
      source: await testModelPath('long'),
      contextSize: 1024,
    });
  extra.push(...(opts.extraModels ?? []));
  const ids = [TEST_MODEL_ID, ...extra.map((m) => m.id)];
  return startInferenceService({
    catalogue: {
      models: [
        {
          id: TEST_MODEL_ID,
          runtime: 'embedded',
          source: path,
          contextSize: opts.contextSize ?? 2048,
          embeddings: true,
        },
        ...extra,
      ],
      tiers: { free: ids, growth: ids, pro: ids, enterprise: ids },
      embeddingModel: TEST_MODEL_ID,
    },
    cacheDir: join(TEST_CACHE_DIR, 'models'),
    allowTestModels: opts.allowTestModels ?? true,
    gpu: false,
    threads: 1,
    preload: true,
    ...(opts.key !== undefined ? { key: opts.key } : {}),
    ...(opts.maxConcurrent !== undefined ? { maxConcurrent: opts.maxConcurrent } : {}),
    ...(opts.queueLimit !== undefined ? { queueLimit: opts.queueLimit } : {}),
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(opts.bodyLimit !== undefined ? { bodyLimit: opts.bodyLimit } : {}),
  });
}
