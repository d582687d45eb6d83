import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InferenceClient,
  InferenceError,
  TEST_MODEL_REPLY,
  UpstreamRuntime,
  type ChatCompletionChunk,
  type StartedInferenceService,
} from '../src/index.js';
import { TEST_MODEL_ID, startTestInferenceService } from '../src/testing.js';

/** A local HTTP server whose behaviour each test scripts; its sockets are closed at the end. */
async function fakeUpstream(
  handler: Parameters<typeof createServer>[1],
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer(handler);
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const hello = [{ role: 'user' as const, content: 'hello' }];
const chunkLine = (content: string) =>
  `data: ${JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null, logprobs: null }] })}\n\n`;

let upstream: StartedInferenceService;
let stalled: Awaited<ReturnType<typeof fakeUpstream>>;
let stallsMidStream: Awaited<ReturnType<typeof fakeUpstream>>;
let diesMidStream: Awaited<ReturnType<typeof fakeUpstream>>;
let refuses: Awaited<ReturnType<typeof fakeUpstream>>;
let front: StartedInferenceService;
let client: InferenceClient;

beforeAll(async () => {
  upstream = await startTestInferenceService();
  stalled = await fakeUpstream(() => undefined); // never answers
  stallsMidStream = await fakeUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(chunkLine('partial'));
  });
  diesMidStream = await fakeUpstream((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(chunkLine('Hello'));
    res.write(chunkLine(' wor'));
    setTimeout(() => req.socket.destroy(), 50);
  });
  refuses = await fakeUpstream((_req, res) => {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        error: {
          message: 'Incorrect API key provided',
          type: 'invalid_request_error',
          code: 'invalid_api_key',
        },
      }),
    );
  });
  process.env.SELF_AI_TEST_UPSTREAM_KEY = upstream.key;
  const up = (id: string, baseUrl: string, extra: Record<string, unknown> = {}) => ({
    id,
    runtime: 'upstream' as const,
    baseUrl,
    contextSize: 2048,
    timeoutMs: 500,
    ...extra,
  });
  front = await startTestInferenceService({
    extraModels: [
      up('remote', `${upstream.url}/v1`, {
        apiKey: 'env:SELF_AI_TEST_UPSTREAM_KEY',
        upstreamModel: TEST_MODEL_ID,
        embeddings: true,
        timeoutMs: 30_000,
      }),
      up('remote-nokey', upstream.url, { upstreamModel: TEST_MODEL_ID }),
      up('remote-unset-env', upstream.url, { apiKey: 'env:SELF_AI_TEST_UNSET_VARIABLE' }),
      up('stalled', stalled.url),
      up('stalls-mid-stream', stallsMidStream.url),
      up('dies-mid-stream', diesMidStream.url),
      up('refuses', refuses.url),
      up('unreachable', 'http://127.0.0.1:1'),
    ],
  });
  client = new InferenceClient({ url: front.url, key: front.key });
});

afterAll(async () => {
  await front?.close();
  await upstream?.close();
  await Promise.all([stalled, stallsMidStream, diesMidStream, refuses].map((s) => s?.close()));
  delete process.env.SELF_AI_TEST_UPSTREAM_KEY;
});

async function collect(
  stream: AsyncIterable<ChatCompletionChunk>,
): Promise<{ text: string; chunks: ChatCompletionChunk[] }> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const c of stream) chunks.push(c);
  return { text: chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), chunks };
}

describe('upstream runtime against another inference service', () => {
  it('chats through it, streamed and not, with its usage', async () => {
    const res = await client.chat({ model: 'remote', messages: hello });
    expect(res.model).toBe('remote');
    expect(res.choices[0].message.content).toBe(TEST_MODEL_REPLY);
    expect(res.usage.completion_tokens).toBe(17);
    const { text, chunks } = await collect(
      client.chatStream({ model: 'remote', messages: hello, max_tokens: 4 }),
    );
    expect(text).toBe('Hello from the SELF');
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('length');
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(4);
  });

  it('passes embeddings through; counts tokens approximately', async () => {
    const direct = await new InferenceClient({ url: upstream.url, key: upstream.key }).embed({
      model: TEST_MODEL_ID,
      input: 'apples',
    });
    const via = await client.embed({ model: 'remote', input: ['apples'] });
    expect(via.data[0]?.embedding).toEqual(direct.data[0]?.embedding);
    expect(await client.tokenize({ model: 'remote', text: 'abcdefg' })).toEqual({
      model: 'remote',
      tokens: 3,
      approximate: true,
    });
    const models = await client.models();
    expect(models.find((m) => m.id === 'remote')).toMatchObject({
      runtime: 'upstream',
      context_length: 2048,
      embeddings: true,
      state: 'ready',
    });
  });

  it("the upstream's refusal of a missing key is a 502 upstream_error, not the caller's 401", async () => {
    const err = await client.chat({ model: 'remote-nokey', messages: hello }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 502, code: 'upstream_error' });
    const refused = await client.chat({ model: 'refuses', messages: hello }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 502, code: 'upstream_error' });
    expect((refused as Error).message).toMatch(/Incorrect API key provided/);
  });

  it('an unset env: key makes the model unavailable, saying which variable', async () => {
    const err = await client.chat({ model: 'remote-unset-env', messages: hello }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 503, code: 'model_unavailable' });
    expect((err as Error).message).toMatch(/SELF_AI_TEST_UNSET_VARIABLE is not set/);
  });

  it('an unreachable upstream is a 502', async () => {
    const err = await client.chat({ model: 'unreachable', messages: hello }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 502, code: 'upstream_error' });
  });
});

describe('upstream faults', () => {
  it('no first byte in time: 504 upstream_timeout, streamed or not', async () => {
    const err = await client.chat({ model: 'stalled', messages: hello }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InferenceError);
    expect(err).toMatchObject({ status: 504, code: 'upstream_timeout' });
    await expect(collect(client.chatStream({ model: 'stalled', messages: hello }))).rejects.toMatchObject({
      status: 504,
      code: 'upstream_timeout',
    });
  });

  it('a stream that goes silent: the client gets the text so far, then an upstream_timeout event', async () => {
    const seen: string[] = [];
    const err = await (async () => {
      for await (const c of client.chatStream({ model: 'stalls-mid-stream', messages: hello }))
        seen.push(c.choices[0]?.delta.content ?? '');
    })().catch((e: unknown) => e);
    expect(seen.join('')).toBe('partial');
    expect(err).toMatchObject({ status: 504, code: 'upstream_timeout' });
  });

  it('an upstream that dies mid-stream: the partial text, then an upstream_error event', async () => {
    const seen: string[] = [];
    const err = await (async () => {
      for await (const c of client.chatStream({ model: 'dies-mid-stream', messages: hello }))
        seen.push(c.choices[0]?.delta.content ?? '');
    })().catch((e: unknown) => e);
    expect(seen.join('')).toBe('Hello wor');
    expect(err).toMatchObject({ status: 502, code: 'upstream_error' });
    // And the service keeps serving.
    expect((await client.chat({ model: TEST_MODEL_ID, messages: hello })).choices[0].message.content).toBe(
      TEST_MODEL_REPLY,
    );
  });

  it('the runtime alone: the same errors without the service around it', async () => {
    const rt = new UpstreamRuntime({
      baseUrl: diesMidStream.url,
      upstreamModel: 'm',
      contextSize: 100,
      timeoutMs: 500,
    });
    const texts: string[] = [];
    await expect(
      rt.chat({ messages: hello, stop: [] }, { onText: (t) => texts.push(t) }),
    ).rejects.toMatchObject({
      code: 'upstream_error',
    });
    expect(texts.join('')).toBe('Hello wor');
    const direct = new InferenceClient({ url: diesMidStream.url, timeoutMs: 500 });
    await expect(collect(direct.chatStream({ model: 'm', messages: hello }))).rejects.toMatchObject({
      status: 502,
      code: 'inference_failed',
    });
  });
});
