import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceClient, startInferenceService, type StartedInferenceService } from '../src/index.js';
import { TEST_CACHE_DIR, TEST_MODEL_ID, startTestInferenceService, testModelPath } from '../src/testing.js';

let service: StartedInferenceService;

beforeAll(async () => {
  service = await startTestInferenceService({ contextSize: 256, bodyLimit: 64 * 1024 });
});
afterAll(async () => {
  await service?.close();
});

async function post(path: string, body: string, headers: Record<string, string> = {}) {
  const res = await request(`${service.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${service.key}`, 'content-type': 'application/json', ...headers },
    body,
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, body: JSON.parse(text) as Record<string, unknown> };
}

const chat = (body: unknown) => post('/v1/chat/completions', JSON.stringify(body));
const hello = [{ role: 'user', content: 'hi' }];

function openAiError(code: string, param?: string | null) {
  return {
    error: expect.objectContaining({
      code,
      message: expect.any(String),
      type: expect.any(String),
      ...(param !== undefined ? { param } : {}),
    }),
  };
}

describe('malformed requests get OpenAI-shaped 4xx errors', () => {
  it('malformed JSON', async () => {
    const res = await post('/v1/chat/completions', '{"model": "self-test", "messages": [');
    expect(res.status).toBe(400);
    expect(res.body).toEqual(openAiError('invalid_request'));
  });

  it('missing messages names the field', async () => {
    const res = await chat({ model: TEST_MODEL_ID });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(openAiError('invalid_request'));
    expect((res.body.error as { message: string }).message).toMatch(/messages/);
  });

  it('wrong types and values name the field', async () => {
    for (const [body, field] of [
      [{ model: TEST_MODEL_ID, messages: 'hi' }, 'messages'],
      [{ model: TEST_MODEL_ID, messages: [] }, 'messages'],
      [{ model: TEST_MODEL_ID, messages: [{ role: 'wizard', content: 'x' }] }, 'messages.0.role'],
      [{ model: TEST_MODEL_ID, messages: [{ role: 'user', content: 5 }] }, 'messages.0.content'],
      [{ model: TEST_MODEL_ID, messages: hello, max_tokens: 'ten' }, 'max_tokens'],
      [{ model: TEST_MODEL_ID, messages: hello, max_tokens: 0 }, 'max_tokens'],
      [{ model: TEST_MODEL_ID, messages: hello, temperature: 9 }, 'temperature'],
      [{ model: 7, messages: hello }, 'model'],
    ] as const) {
      const res = await chat(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body, JSON.stringify(body)).toEqual(openAiError('invalid_request'));
      expect((res.body.error as { param: string }).param, JSON.stringify(body)).toBe(field);
    }
  });

  it('a body that is not JSON at all', async () => {
    const res = await post('/v1/chat/completions', 'hello', { 'content-type': 'text/plain' });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(openAiError('invalid_request'));
    const form = await post('/v1/chat/completions', 'a=1', {
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(form.status).toBe(415);
    expect(form.body).toEqual(openAiError('invalid_request'));
  });

  it('unknown model: 404 model_not_found', async () => {
    const res = await chat({ model: 'gpt-17', messages: hello });
    expect(res.status).toBe(404);
    expect(res.body).toEqual(openAiError('model_not_found', 'model'));
    const emb = await post('/v1/embeddings', JSON.stringify({ model: 'gpt-17', input: 'x' }));
    expect(emb.status).toBe(404);
  });

  it('oversized body: 413 request_too_large', async () => {
    const res = await chat({
      model: TEST_MODEL_ID,
      messages: [{ role: 'user', content: 'x'.repeat(70_000) }],
    });
    expect(res.status).toBe(413);
    expect(res.body).toEqual(openAiError('request_too_large'));
  });

  it('prompt over the context: 400 context_length_exceeded with the numbers', async () => {
    const long = [{ role: 'user', content: 'word '.repeat(400) }];
    const res = await chat({ model: TEST_MODEL_ID, messages: long });
    expect(res.status).toBe(400);
    expect(res.body).toEqual(openAiError('context_length_exceeded', 'messages'));
    expect((res.body.error as { message: string }).message).toMatch(
      /context is 256 tokens; the messages take \d+/,
    );

    // Fits alone, but not with max_tokens on top.
    const tight = await chat({ model: TEST_MODEL_ID, messages: hello, max_tokens: 250 });
    expect(tight.status).toBe(400);
    expect((tight.body.error as { message: string }).message).toMatch(/max_tokens asks for 250/);

    // Streaming: still a plain HTTP error, since nothing was streamed yet.
    const client = new InferenceClient({ url: service.url, key: service.key });
    const stream = client.chatStream({ model: TEST_MODEL_ID, messages: long as never });
    await expect(stream.next()).rejects.toMatchObject({ status: 400, code: 'context_length_exceeded' });
  });

  it('tokenize needs exactly one of text and messages', async () => {
    const res = await post('/v1/tokenize', JSON.stringify({ model: TEST_MODEL_ID }));
    expect(res.status).toBe(400);
    expect(res.body).toEqual(openAiError('invalid_request'));
  });

  it('unknown route: 404; wrong method: 405 with Allow', async () => {
    const res = await request(`${service.url}/v1/nothing`, {
      headers: { authorization: `Bearer ${service.key}` },
    });
    expect(res.statusCode).toBe(404);
    await res.body.text();
    const res2 = await request(`${service.url}/v1/chat/completions`, {
      headers: { authorization: `Bearer ${service.key}` },
    });
    expect(res2.statusCode).toBe(405);
    expect(res2.headers.allow).toBe('POST');
    expect(await res2.body.json()).toEqual(openAiError('method_not_allowed'));
  });
});

describe('authentication', () => {
  it('needs the service key everywhere but /health', async () => {
    for (const authorization of [undefined, 'Bearer wrong', `Basic ${service.key}`, 'Bearer ']) {
      const headers: Record<string, string> = authorization ? { authorization } : {};
      for (const path of ['/v1/models', '/metrics']) {
        const res = await request(`${service.url}${path}`, { headers });
        expect(res.statusCode, `${path} ${authorization}`).toBe(401);
        expect(await res.body.json()).toEqual(openAiError('unauthorized'));
      }
      const res = await request(`${service.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ model: TEST_MODEL_ID, messages: hello }),
      });
      expect(res.statusCode).toBe(401);
      await res.body.text();
    }
    const health = await request(`${service.url}/health`);
    expect(health.statusCode).toBe(200);
    expect(await health.body.json()).toMatchObject({
      ok: true,
      models: [{ id: TEST_MODEL_ID, state: 'ready' }],
    });
  });

  it('serves metrics to the key holder', async () => {
    await chat({ model: TEST_MODEL_ID, messages: hello });
    const res = await request(`${service.url}/metrics`, {
      headers: { authorization: `Bearer ${service.key}` },
    });
    const text = await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(text).toMatch(/self_ai_requests_total\{route="chat",model="self-test",status="200"\} \d+/);
    expect(text).toMatch(/self_ai_generated_tokens_total\{model="self-test"\} \d+/);
    expect(text).toMatch(/self_ai_time_to_first_token_seconds_count\{model="self-test"\} \d+/);
  });
});

describe('models that cannot be served', () => {
  it('refuses the test model without allowTestModels, saying what to do; serves the others', async () => {
    const refused = await startTestInferenceService({ allowTestModels: false });
    try {
      const client = new InferenceClient({ url: refused.url, key: refused.key });
      const err = await client
        .chat({ model: TEST_MODEL_ID, messages: [{ role: 'user', content: 'hi' }] })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ status: 503, code: 'model_unavailable' });
      expect((err as Error).message).toMatch(/test model/);
      expect((err as Error).message).toMatch(/self ai pull/);
      expect((err as Error).message).toMatch(/--allow-test-model is for tests only/);
      const [entry] = await client.models();
      expect(entry).toMatchObject({ id: TEST_MODEL_ID, state: 'unavailable' });
      expect(entry?.unavailable_reason).toMatch(/test model/);
    } finally {
      await refused.close();
    }
  });

  it('a missing file or undownloaded URI: 503 model_unavailable with the fix; other models keep serving', async () => {
    const path = await testModelPath();
    const svc = await startInferenceService({
      catalogue: {
        models: [
          { id: 'gone', runtime: 'embedded', source: '/nonexistent/model.gguf' },
          { id: 'remote', runtime: 'embedded', source: 'hf:someone/some-repo/model-Q4_K_M.gguf' },
          { id: 'ok', runtime: 'embedded', source: path, contextSize: 512 },
        ],
        tiers: { free: ['ok'], growth: ['ok'], pro: ['ok'], enterprise: ['ok'] },
        embeddingModel: null,
      },
      cacheDir: `${TEST_CACHE_DIR}/empty-cache`,
      allowTestModels: true,
      gpu: false,
      threads: 1,
    });
    try {
      const client = new InferenceClient({ url: svc.url, key: svc.key });
      const msg = [{ role: 'user' as const, content: 'hi' }];
      const gone = await client.chat({ model: 'gone', messages: msg }).catch((e: unknown) => e);
      expect(gone).toMatchObject({ status: 503, code: 'model_unavailable' });
      expect((gone as Error).message).toMatch(/\/nonexistent\/model\.gguf.*does not exist.*fix the path/);
      const remote = await client.chat({ model: 'remote', messages: msg }).catch((e: unknown) => e);
      expect(remote).toMatchObject({ status: 503, code: 'model_unavailable' });
      expect((remote as Error).message).toContain('self ai pull hf:someone/some-repo/model-Q4_K_M.gguf');
      const ok = await client.chat({ model: 'ok', messages: msg });
      expect(ok.choices[0].finish_reason).toBe('stop');
      const entries = await client.models();
      expect(entries.map((e) => [e.id, e.state])).toEqual([
        ['gone', 'unavailable'],
        ['remote', 'unavailable'],
        ['ok', 'ready'],
      ]);
      expect(entries[2]?.context_length).toBe(512);
    } finally {
      await svc.close();
    }
  });
});
