import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceClient, TEST_MODEL_REPLY, type StartedInferenceService } from '../src/index.js';
import { TEST_MODEL_ID, startTestInferenceService } from '../src/testing.js';

let service: StartedInferenceService;
let openai: OpenAI;
let client: InferenceClient;

beforeAll(async () => {
  service = await startTestInferenceService();
  openai = new OpenAI({ baseURL: `${service.url}/v1`, apiKey: service.key, maxRetries: 0 });
  client = new InferenceClient({ url: service.url, key: service.key });
});
afterAll(async () => {
  await service?.close();
});

function cosine(a: number[], b: number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += (a[i] ?? 0) * (b[i] ?? 0);
    na += (a[i] ?? 0) ** 2;
    nb += (b[i] ?? 0) ** 2;
  }
  return dot / Math.sqrt(na * nb);
}

describe('the official openai client against the service', () => {
  it('chat.completions.create', async () => {
    const res = await openai.chat.completions.create({
      model: TEST_MODEL_ID,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hello?' },
      ],
    });
    expect(res.choices[0]?.message.content).toBe(TEST_MODEL_REPLY);
    expect(res.choices[0]?.finish_reason).toBe('stop');
    expect(res.usage?.completion_tokens).toBe(17);
  });

  it('chat.completions.create with stream: true', async () => {
    const stream = await openai.chat.completions.create({
      model: TEST_MODEL_ID,
      messages: [{ role: 'user', content: 'Hello?' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let pieces = 0;
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta.content;
      if (delta) {
        text += delta;
        pieces++;
      }
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(TEST_MODEL_REPLY);
    expect(pieces).toBeGreaterThan(5);
    expect(finish).toBe('stop');
    expect(usage?.completion_tokens).toBe(17);
  });

  it('models.list', async () => {
    const page = await openai.models.list();
    expect(page.data.map((m) => m.id)).toEqual([TEST_MODEL_ID]);
    expect(page.data[0]).toMatchObject({ object: 'model', owned_by: 'self' });
  });

  it('embeddings.create (base64 by default in the client) and float', async () => {
    const res = await openai.embeddings.create({ model: TEST_MODEL_ID, input: ['apples and milk', 'a b'] });
    expect(res.data).toHaveLength(2);
    expect(res.data[0]?.embedding).toHaveLength(320);
    expect(res.usage.prompt_tokens).toBeGreaterThan(0);
    const float = await openai.embeddings.create({
      model: TEST_MODEL_ID,
      input: 'apples and milk',
      encoding_format: 'float',
    });
    const a = float.data[0]?.embedding ?? [];
    const b = res.data[0]?.embedding ?? [];
    expect(a.length).toBe(320);
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i] ?? NaN, 5);
  });

  it('errors arrive as OpenAI APIErrors with the code', async () => {
    const err = await openai.chat.completions
      .create({ model: 'missing', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('model_not_found');
    const bad = new OpenAI({ baseURL: `${service.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
    await expect(bad.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });
});

describe('embeddings and tokenize', () => {
  it('lexically similar texts are closer than unrelated ones', async () => {
    const res = await client.embed({
      model: TEST_MODEL_ID,
      input: [
        'grocery list: apples, milk and bread',
        'buy apples and milk and bread at the grocery',
        'quantum chromodynamics lecture #7',
      ],
    });
    expect(res.object).toBe('list');
    expect(res.data.map((d) => d.index)).toEqual([0, 1, 2]);
    const [a, b, c] = res.data.map((d) => d.embedding) as [number[], number[], number[]];
    expect(cosine(a, b)).toBeGreaterThan(cosine(a, c));
    expect(cosine(a, b)).toBeGreaterThan(cosine(b, c));
    expect(res.usage.prompt_tokens).toBeGreaterThan(10);
  });

  it('the same text embeds the same way every time', async () => {
    const one = await client.embed({ model: TEST_MODEL_ID, input: 'same text' });
    const two = await client.embed({ model: TEST_MODEL_ID, input: ['other', 'same text'] });
    expect(two.data[1]?.embedding).toEqual(one.data[0]?.embedding);
  });

  it('counts tokens of a text and of a chat as rendered', async () => {
    const a = await client.tokenize({ model: TEST_MODEL_ID, text: 'hello' });
    const b = await client.tokenize({ model: TEST_MODEL_ID, text: 'hello hello hello' });
    expect(a).toMatchObject({ model: TEST_MODEL_ID, approximate: false });
    expect(a.tokens).toBeGreaterThan(0);
    expect(b.tokens).toBeGreaterThan(a.tokens);
    const messages = [{ role: 'user' as const, content: 'hello' }];
    const chat = await client.tokenize({ model: TEST_MODEL_ID, messages });
    // The template adds role markers around the text.
    expect(chat.tokens).toBeGreaterThan(a.tokens);
    // And it is what a chat is charged as prompt.
    const completion = await client.chat({ model: TEST_MODEL_ID, messages, max_tokens: 1 });
    expect(completion.usage.prompt_tokens).toBe(chat.tokens);
  });
});
