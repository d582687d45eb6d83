import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGgufFileInfo } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeGguf } from '../src/gguf/writer.js';
import { CHATML_TEMPLATE, scriptPieces } from '../src/gguf/test-model.js';
import {
  EmbeddedRuntime,
  TEST_MODEL_MARK,
  TEST_MODEL_NAME,
  TEST_MODEL_REPLY,
  probeGguf,
  writeTestModel,
} from '../src/index.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'self-ai-gguf-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the GGUF writer', () => {
  it('writes metadata and tensor infos that llama.cpp tooling reads back', async () => {
    const path = join(dir, 'tiny.gguf');
    const values = new Float32Array([1, 2, 3, 4, 5, 6]);
    await writeGguf(
      path,
      new Map([
        ['general.architecture', { type: 'string', value: 'llama' }],
        ['general.name', { type: 'string', value: 'tiny' }],
        ['tiny.flag', { type: 'bool', value: true }],
        ['tiny.count', { type: 'u32', value: 7 }],
        ['tiny.words', { type: 'string[]', value: ['a', 'b'] }],
      ]),
      [{ name: 'w', dims: [3, 2], type: 'F32', data: () => new Uint8Array(values.buffer) }],
    );
    const info = await readGgufFileInfo(path);
    expect(info.version).toBe(3);
    const meta = info.metadata as unknown as Record<string, Record<string, unknown>>;
    expect(meta.general).toMatchObject({ architecture: 'llama', name: 'tiny' });
    expect(meta.tiny).toEqual({ flag: true, count: 7, words: ['a', 'b'] });
    expect(info.tensorInfo).toHaveLength(1);
    expect(info.tensorInfo?.[0]).toMatchObject({ name: 'w', dimensions: [3, 2] });
  });

  it('writes the test model: llama, ChatML, pooled, marked as a test model', async () => {
    const path = join(dir, 'test.gguf');
    await writeTestModel(path);
    expect((await stat(path)).size).toBeLessThan(4 * 1024 * 1024);
    const info = await readGgufFileInfo(path);
    const meta = info.metadata as unknown as Record<string, Record<string, unknown>>;
    expect(meta.general).toMatchObject({ architecture: 'llama', name: TEST_MODEL_NAME });
    expect(meta.tokenizer?.chat_template).toBe(CHATML_TEMPLATE);
    expect(meta.llama?.pooling_type).toBe(1);
    const [section, key] = TEST_MODEL_MARK.split('.') as [string, string];
    expect(meta[section]?.[key]).toBe(true);
    expect(info.tensorInfo?.map((t) => t.name)).toContain('token_embd.weight');
    expect(await probeGguf(path)).toEqual({ trainContextSize: 4096, pooling: true, testModel: true });
    expect(scriptPieces(TEST_MODEL_REPLY).length).toBe(17);
  });
});

describe('the embedded runtime with the test model', () => {
  let runtime: EmbeddedRuntime;
  beforeAll(async () => {
    const path = join(dir, 'runtime.gguf');
    await writeTestModel(path, { contextLength: 1024 });
    runtime = await EmbeddedRuntime.load({ modelPath: path, allowTestModels: true, gpu: false, threads: 1 });
  });
  afterAll(async () => {
    await runtime?.close();
  });

  it('uses the trained context when it is under 8192', () => {
    expect(runtime.contextLength).toBe(1024);
    expect(runtime.embeddings).toBe(true);
  });

  it('streams the scripted reply piece by piece', async () => {
    const pieces: string[] = [];
    const outcome = await runtime.chat(
      { messages: [{ role: 'user', content: 'hi' }], stop: [] },
      { onText: (t) => pieces.push(t) },
    );
    expect(pieces.join('')).toBe(TEST_MODEL_REPLY);
    expect(pieces.length).toBe(17);
    expect(outcome.finishReason).toBe('stop');
  });

  it('refuses the test model unless allowed', async () => {
    await expect(
      EmbeddedRuntime.load({ modelPath: join(dir, 'runtime.gguf'), gpu: false, threads: 1 }),
    ).rejects.toMatchObject({ status: 503, code: 'model_unavailable' });
  });

  it('reports a file that is not a model', async () => {
    await expect(
      EmbeddedRuntime.load({ modelPath: new URL(import.meta.url).pathname, gpu: false }),
    ).rejects.toMatchObject({
      code: 'model_unavailable',
      message: expect.stringMatching(/not a readable GGUF/),
    });
  });
});
