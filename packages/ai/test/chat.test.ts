import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceClient, InferenceError, TEST_MODEL_REPLY, type ChatCompletionChunk } from '../src/index.js';
import { TEST_MODEL_ID, startTestInferenceService } from '../src/testing.js';
import type { StartedInferenceService } from '../src/service/server.js';

let service: StartedInferenceService;
let client: InferenceClient;

beforeAll(async () => {
  service = await startTestInferenceService();
  client = new InferenceClient({ url: service.url, key: service.key });
});
afterAll(async () => {
  await service?.close();
});

const hello = [{ role: 'user' as const, content: 'Say hello.' }];

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

describe('chat through the service with the real runtime', () => {
  it('answers the scripted reply, with usage', async () => {
    const res = await client.chat({ model: TEST_MODEL_ID, messages: hello });
    expect(res.object).toBe('chat.completion');
    expect(res.model).toBe(TEST_MODEL_ID);
    expect(res.choices[0].message).toEqual({ role: 'assistant', content: TEST_MODEL_REPLY });
    expect(res.choices[0].finish_reason).toBe('stop');
    expect(res.usage.prompt_tokens).toBeGreaterThan(0);
    expect(res.usage.completion_tokens).toBe(17);
    expect(res.usage.total_tokens).toBe(res.usage.prompt_tokens + res.usage.completion_tokens);
  });

  it('streams the reply in several chunks; the last carries finish_reason and usage', async () => {
    const chunks = await collect(client.chatStream({ model: TEST_MODEL_ID, messages: hello }));
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(TEST_MODEL_REPLY);
    expect(chunks.filter((c) => (c.choices[0]?.delta.content ?? '') !== '').length).toBeGreaterThan(5);
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    const last = chunks.at(-1);
    expect(last?.choices[0]?.finish_reason).toBe('stop');
    expect(last?.usage?.completion_tokens).toBe(17);
    expect(chunks.slice(0, -1).every((c) => c.choices[0]?.finish_reason === null)).toBe(true);
  });

  it('stops at max_tokens with finish_reason length', async () => {
    const res = await client.chat({ model: TEST_MODEL_ID, messages: hello, max_tokens: 3 });
    expect(res.choices[0].finish_reason).toBe('length');
    expect(res.usage.completion_tokens).toBe(3);
    expect(TEST_MODEL_REPLY.startsWith(res.choices[0].message.content)).toBe(true);
    expect(res.choices[0].message.content).toBe('Hello from the');

    const chunks = await collect(client.chatStream({ model: TEST_MODEL_ID, messages: hello, max_tokens: 3 }));
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('length');
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(3);
  });

  it('stops at a stop sequence, which is not included', async () => {
    const res = await client.chat({ model: TEST_MODEL_ID, messages: hello, stop: [' This reply'] });
    expect(res.choices[0].message.content).toBe('Hello from the SELF test model.');
    expect(res.choices[0].finish_reason).toBe('stop');
  });

  it('takes a conversation with system and assistant turns', async () => {
    const res = await client.chat({
      model: TEST_MODEL_ID,
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello.' },
        { role: 'user', content: 'Again?' },
      ],
      temperature: 0,
      seed: 7,
      top_p: 0.9,
    });
    expect(res.choices[0].message.content).toBe(TEST_MODEL_REPLY);
  });

  it('lists the model with its context and state', async () => {
    const models = await client.models();
    expect(models).toEqual([
      expect.objectContaining({
        id: TEST_MODEL_ID,
        object: 'model',
        context_length: 2048,
        runtime: 'embedded',
        embeddings: true,
        state: 'ready',
      }),
    ]);
    expect(await service.models()).toEqual(models);
  });

  it('throws InferenceError for an unknown model, and for a wrong key', async () => {
    const err = await client.chat({ model: 'nope', messages: hello }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InferenceError);
    expect(err).toMatchObject({ status: 404, code: 'model_not_found' });

    const wrong = new InferenceClient({ url: service.url, key: 'wrong' });
    await expect(wrong.models()).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
    const streamErr = await collect(wrong.chatStream({ model: TEST_MODEL_ID, messages: hello })).catch(
      (e) => e,
    );
    expect(streamErr).toMatchObject({ status: 401, code: 'unauthorized' });
  });

  it('reports unreachable when nothing listens', async () => {
    const dead = new InferenceClient({ url: 'http://127.0.0.1:1', key: 'k' });
    await expect(dead.models()).rejects.toMatchObject({ status: 503, code: 'unreachable' });
  });
});
