import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InferenceClient,
  InferenceError,
  TEST_MODEL_REPLY,
  type ChatCompletionChunk,
  type StartedInferenceService,
} from '../src/index.js';
import {
  TEST_LONG_MODEL_ID,
  TEST_LONG_REPLY,
  TEST_MODEL_ID,
  startTestInferenceService,
} from '../src/testing.js';

let service: StartedInferenceService;
let client: InferenceClient;

beforeAll(async () => {
  service = await startTestInferenceService({ longModel: true, maxConcurrent: 2, queueLimit: 4 });
  client = new InferenceClient({ url: service.url, key: service.key });
});
afterAll(async () => {
  await service?.close();
});

const hello = [{ role: 'user' as const, content: 'hello' }];

async function text(stream: AsyncIterable<ChatCompletionChunk>): Promise<string> {
  let out = '';
  for await (const c of stream) out += c.choices[0]?.delta.content ?? '';
  return out;
}

async function metric(name: string): Promise<string> {
  const res = await request(`${service.url}/metrics`, {
    headers: { authorization: `Bearer ${service.key}` },
  });
  const body = await res.body.text();
  return body
    .split('\n')
    .filter((l) => l.startsWith(name))
    .join('\n');
}

describe('per-request isolation', () => {
  it('concurrent streams each get the whole reply', async () => {
    const replies = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        text(
          client.chatStream({ model: TEST_MODEL_ID, messages: [{ role: 'user', content: `person ${i}` }] }),
        ),
      ),
    );
    expect(replies).toEqual([TEST_MODEL_REPLY, TEST_MODEL_REPLY, TEST_MODEL_REPLY, TEST_MODEL_REPLY]);
  });

  it('a request after others starts from a clean sequence', async () => {
    const messages = [{ role: 'user' as const, content: 'count me' }];
    const counted = await client.tokenize({ model: TEST_MODEL_ID, messages });
    for (let i = 0; i < 3; i++) {
      const res = await client.chat({ model: TEST_MODEL_ID, messages });
      expect(res.usage.prompt_tokens).toBe(counted.tokens);
      expect(res.choices[0].message.content).toBe(TEST_MODEL_REPLY);
    }
  });

  it('aborting one stream mid-way stops it; the other completes; the service keeps serving', async () => {
    const controller = new AbortController();
    const aborted = (async () => {
      let got = '';
      for await (const c of client.chatStream(
        { model: TEST_LONG_MODEL_ID, messages: hello },
        { signal: controller.signal },
      )) {
        got += c.choices[0]?.delta.content ?? '';
        if (got.length > 20) controller.abort();
      }
      return got;
    })();
    const other = text(client.chatStream({ model: TEST_LONG_MODEL_ID, messages: hello }));
    await expect(aborted).rejects.toThrow();
    expect(await other).toBe(TEST_LONG_REPLY);
    // The service saw the client leave (499) rather than finishing the reply for nobody.
    await expect
      .poll(() => metric('self_ai_requests_total{route="chat",model="self-test-long",status="499"}'))
      .toMatch(/ 1$/);
    expect(await text(client.chatStream({ model: TEST_MODEL_ID, messages: hello }))).toBe(TEST_MODEL_REPLY);
  });

  it('breaking out of a stream closes it as an abort does', async () => {
    for await (const c of client.chatStream({ model: TEST_LONG_MODEL_ID, messages: hello })) {
      if (c.choices[0]?.delta.content) break;
    }
    await expect
      .poll(() => metric('self_ai_requests_total{route="chat",model="self-test-long",status="499"}'))
      .toMatch(/ 2$/);
    const res = await client.chat({ model: TEST_MODEL_ID, messages: hello });
    expect(res.choices[0].message.content).toBe(TEST_MODEL_REPLY);
  });
});

describe('a full queue', () => {
  it('answers busy (503, Retry-After) beyond the sequences and the waiting line', async () => {
    const small = await startTestInferenceService({ longModel: true, maxConcurrent: 1, queueLimit: 0 });
    try {
      const c = new InferenceClient({ url: small.url, key: small.key });
      const first = c.chatStream({ model: TEST_LONG_MODEL_ID, messages: hello });
      const head = await first.next(); // generating now: the one sequence is taken
      expect(head.done).toBe(false);
      const err = await c.chat({ model: TEST_LONG_MODEL_ID, messages: hello }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InferenceError);
      expect(err).toMatchObject({ status: 503, code: 'busy', extra: { retryAfterSeconds: 1 } });
      await first.return(undefined);
      // Once the first has gone, the sequence is free again.
      await expect
        .poll(
          async () =>
            (await c.chat({ model: TEST_MODEL_ID, messages: hello }).catch(() => null))?.choices[0].message
              .content,
        )
        .toBe(TEST_MODEL_REPLY);
    } finally {
      await small.close();
    }
  });
});
