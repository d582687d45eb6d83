import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InferenceClient,
  TEST_MODEL_REPLY,
  catalogueForModel,
  spawnInferenceService,
  type SpawnedInferenceService,
} from '../src/index.js';
import { TEST_CACHE_DIR, TEST_LONG_MODEL_ID, TEST_MODEL_ID, testModelPath } from '../src/testing.js';

let child: SpawnedInferenceService;
let exits: Array<{ code: number | null; signal: string | null }>;

beforeAll(async () => {
  exits = [];
  const base = catalogueForModel(await testModelPath(), { id: TEST_MODEL_ID, contextSize: 1024 });
  child = await spawnInferenceService(
    {
      catalogue: {
        ...base,
        models: [
          ...base.models,
          {
            id: TEST_LONG_MODEL_ID,
            runtime: 'embedded',
            source: await testModelPath('long'),
            contextSize: 1024,
          },
        ],
      },
      cacheDir: TEST_CACHE_DIR,
      allowTestModels: true,
      gpu: false,
      threads: 1,
      logLevel: 'warn',
      preload: true,
    },
    { onExit: (code, signal) => exits.push({ code, signal }) },
  );
});
afterAll(async () => {
  await child?.stop();
});

describe('self-ai serve as a child process', () => {
  it('prints its ready line and serves chat over HTTP with its key', async () => {
    expect(child.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(child.key.length).toBeGreaterThanOrEqual(32);
    // The key is never on the command line.
    expect(child.process.spawnargs.join(' ')).not.toContain(child.key);
    const client = new InferenceClient({ url: child.url, key: child.key });
    const res = await client.chat({ model: TEST_MODEL_ID, messages: [{ role: 'user', content: 'hi' }] });
    expect(res.choices[0].message.content).toBe(TEST_MODEL_REPLY);
    await expect(new InferenceClient({ url: child.url }).models()).rejects.toMatchObject({ status: 401 });
  });

  it('killed mid-stream (SIGKILL): the client gets inference_failed after the text so far', async () => {
    const client = new InferenceClient({ url: child.url, key: child.key });
    let text = '';
    const err = await (async () => {
      for await (const c of client.chatStream({
        model: TEST_LONG_MODEL_ID,
        messages: [{ role: 'user', content: 'x' }],
      })) {
        text += c.choices[0]?.delta.content ?? '';
        if (text.length > 10 && !child.process.killed) child.process.kill('SIGKILL');
      }
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 502, code: 'inference_failed' });
    expect(text.startsWith('w0 w1')).toBe(true);
    await expect.poll(() => exits).toEqual([{ code: null, signal: 'SIGKILL' }]);
    // Nothing listens any more.
    await expect(client.models()).rejects.toMatchObject({ code: 'unreachable' });
  });
});

describe('starting and stopping', () => {
  it('stops on SIGTERM, and on stdin closing', async () => {
    const config = {
      catalogue: catalogueForModel(await testModelPath(), { id: TEST_MODEL_ID }),
      cacheDir: TEST_CACHE_DIR,
      logLevel: 'warn' as const,
    };
    const a = await spawnInferenceService(config);
    await a.stop();
    expect(a.process.exitCode).toBe(0);

    const b = await spawnInferenceService(config);
    const exited = new Promise((resolve) => b.process.once('exit', (code) => resolve(code)));
    b.process.stdin?.end();
    expect(await exited).toBe(0);
  });

  it('refuses a bad config with a clear error', async () => {
    const err = await spawnInferenceService({
      catalogue: { models: [], tiers: {} } as never,
      cacheDir: TEST_CACHE_DIR,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/self-ai failed to start: model catalogue: \//);
  });
});
