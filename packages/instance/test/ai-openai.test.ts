import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { toHex } from '@self/crypto';
import { InferenceClient, TEST_MODEL_REPLY } from '@self/ai';
import { startTestInferenceService } from '@self/ai/testing';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AiConnection } from '../src/ai/connection.js';
import {
  PERSON,
  appHeaders,
  callSocket,
  serveInstance,
  tempRoot,
  type ServedInstance,
} from './fixtures/ai-helpers.js';
import { testAppId } from './fixtures/app-tokens.js';
import { createTestInstance, testKeys } from './fixtures/instance-helpers.js';
import { spawnInstanceProcess } from './fixtures/process-helpers.js';

/**
 * The instance's OpenAI-compatible API driven by the official `openai` client over HTTP: a small
 * gateway on 127.0.0.1 maps bearer tokens to the x-self-* identity headers (as the cloud's gateway
 * does) and pipes to the instance's Unix socket; behind it the real inference service.
 */

process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD ??= 'true';

const { root, remove } = tempRoot('self-ai-openai-');
const keys = testKeys();
let service: Awaited<ReturnType<typeof startTestInferenceService>>;
let s: ServedInstance;
let gateway: { url: string; close: () => Promise<void> };
const served: ServedInstance[] = [];

/** Tokens of the test gateway, and who each one is; the apps' are added once their grants exist. */
const TOKENS: Record<string, Record<string, string>> = { 'person-token': PERSON };

function connection(over: Partial<AiConnection> = {}): AiConnection {
  return {
    url: service.url,
    key: service.key,
    models: ['self-test'],
    embeddingModel: 'self-test',
    monthlyTokenBudget: null,
    ...over,
  };
}

async function startGateway(
  sockets: Record<string, string>,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    // /<instance>/v1/… → that instance's socket, as /v1/…
    const [, name = '', ...rest] = (req.url ?? '/').split('/');
    const socketPath = sockets[name];
    if (socketPath === undefined) {
      res.writeHead(404).end();
      return;
    }
    const token = (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
    const headers: IncomingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (k !== 'authorization' && k !== 'host' && !k.startsWith('x-self-')) headers[k] = v;
    }
    Object.assign(headers, TOKENS[token] ?? {});
    const upstream = request(
      { socketPath, method: req.method, path: `/${rest.join('/')}`, headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const openai = (token: string, instance = 'main') =>
  new OpenAI({ baseURL: `${gateway.url}/${instance}/v1`, apiKey: token, maxRetries: 0 });

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

async function raw(
  path: string,
  body: string,
  token = 'person-token',
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${gateway.url}/main${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body,
  });
  return { status: res.status, body: await res.json() };
}

beforeAll(async () => {
  service = await startTestInferenceService();
  const client = new InferenceClient({ url: service.url, key: service.key });
  s = await serveInstance(root, keys, 'main', { connection: connection(), client });
  const metered = await serveInstance(root, keys, 'metered', {
    connection: connection({ monthlyTokenBudget: 10 }),
    client,
  });
  served.push(s, metered);
  TOKENS['chat-app-token'] = await appHeaders([s.inst, metered.inst], 'chat-app', 'ai:chat');
  TOKENS['other-app-token'] = await appHeaders([s.inst, metered.inst], 'other-app', 'storage:read');
  TOKENS['memory-app-token'] = await appHeaders([s.inst, metered.inst], 'memory-app', 'ai:chat ai:memory');
  gateway = await startGateway({ main: s.socket, metered: metered.socket });
});

afterAll(async () => {
  await gateway.close();
  for (const one of served) await one.close().catch(() => undefined);
  await service.close();
  remove();
});

describe('the official openai client', () => {
  it('lists the tier’s models', async () => {
    const models = await openai('person-token').models.list();
    expect(models.data.map((m) => m.id)).toEqual(['self-test']);
  });

  it('gets a whole completion', async () => {
    const res = await openai('person-token').chat.completions.create({
      model: 'self-test',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Say hello.' },
      ],
    });
    expect(res.choices[0]!.message.content).toBe(TEST_MODEL_REPLY);
    expect(res.usage!.completion_tokens).toBeGreaterThan(0);
  });

  it('streams a completion', async () => {
    const stream = await openai('person-token').chat.completions.create({
      model: 'self-test',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Stream, please.' }] }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let chunks = 0;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      chunks++;
      usage = chunk.usage ?? usage;
    }
    expect(text).toBe(TEST_MODEL_REPLY);
    expect(chunks).toBeGreaterThan(3);
    expect(usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('makes embeddings, in base64 as the client asks by default, or as floats', async () => {
    const client = openai('person-token');
    const b64 = await client.embeddings.create({
      model: 'self-test',
      input: ['the blue flowerpot', 'tax meeting'],
    });
    expect(b64.data).toHaveLength(2);
    expect(b64.data[0]!.embedding).toHaveLength(320);
    const floats = await client.embeddings.create({
      model: 'self-test',
      input: 'the blue flowerpot',
      encoding_format: 'float',
    });
    expect(floats.data[0]!.embedding.map((x) => Math.fround(x))).toEqual(b64.data[0]!.embedding);
  });

  it('refuses an unknown model with 404 model_not_found', async () => {
    const err = await openai('person-token')
      .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('model_not_found');
    const emb = await openai('person-token')
      .embeddings.create({ model: 'text-embedding-3-small', input: 'x' })
      .catch((e: unknown) => e);
    expect(emb).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('lets an app with ai:chat in, and refuses one without it (403, audited as denied)', async () => {
    const ok = await openai('chat-app-token').chat.completions.create({
      model: 'self-test',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(ok.choices[0]!.message.content).toBe(TEST_MODEL_REPLY);
    const err = await openai('other-app-token')
      .chat.completions.create({ model: 'self-test', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((err as InstanceType<typeof OpenAI.PermissionDeniedError>).error).toMatchObject({
      type: 'permission_error',
      code: 'forbidden',
    });
    const noIdentity = await fetch(`${gateway.url}/main/v1/models`);
    expect(noIdentity.status).toBe(401);
    expect(await noIdentity.json()).toEqual({
      error: {
        message: expect.any(String),
        type: 'authentication_error',
        code: 'unauthenticated',
        param: null,
      },
    });
    const wrongMethod = await raw('/v1/models', '{}');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.body.error).toMatchObject({
      type: 'invalid_request_error',
      code: 'method_not_allowed',
    });

    const entries = s.inst.auditEntries(1, 1000);
    const byApp = (app: string) =>
      entries.filter((e) => e.app === app).map((e) => [e.action, e.scope, e.outcome]);
    expect(byApp(testAppId('chat-app'))).toEqual([['ai.completions', 'ai:chat', 'ok']]);
    expect(byApp(testAppId('other-app'))).toEqual([['ai.completions', 'ai:chat', 'denied']]);
    const person = entries.filter((e) => e.app === null).map((e) => `${e.action}:${e.outcome}:${e.object}`);
    expect(person).toEqual(
      expect.arrayContaining([
        'ai.models:ok:ai/models',
        'ai.completions:ok:ai/models/self-test',
        'ai.embeddings:ok:ai/models/self-test',
        'ai.completions.model_not_found:error:ai/models/gpt-4o',
      ]),
    );
  });

  it('gives an app with ai:memory answers that draw on the person’s memory, never the items themselves', async () => {
    s.inst.aiState().memory.create('My sister is called Ada');
    const ask = (token: string) =>
      openai(token).chat.completions.create({
        model: 'self-test',
        messages: [{ role: 'user', content: 'What is my sister called?' }],
      });
    const plain = await ask('chat-app-token');
    const withMemory = await ask('memory-app-token');
    expect(withMemory.choices[0]!.message.content).toBe(TEST_MODEL_REPLY);
    expect(withMemory.choices[0]!.message.content).not.toContain('Ada');
    // The memory went to the model as context: the same question costs more prompt tokens.
    expect(withMemory.usage!.prompt_tokens).toBeGreaterThan(plain.usage!.prompt_tokens);
    const uses = s.inst
      .auditEntries(1, 1000)
      .filter((e) => e.app === testAppId('memory-app'))
      .map((e) => [e.action, e.scope, e.outcome]);
    // The memory is read (and audited) while the request is built, before the model answers.
    expect(uses).toEqual([
      ['ai.memory.use', 'ai:memory', 'ok'],
      ['ai.completions', 'ai:chat', 'ok'],
    ]);
  });

  it('answers malformed requests with OpenAI-shaped 400s naming the parameter', async () => {
    const cases: Array<[string, string, string | null]> = [
      ['/v1/chat/completions', '{"model": "self-test"}', 'messages'],
      ['/v1/chat/completions', '{"model": "self-test", "messages": []}', 'messages'],
      [
        '/v1/chat/completions',
        '{"model": "self-test", "messages": [{"role": "robot", "content": "x"}]}',
        'messages[0].role',
      ],
      [
        '/v1/chat/completions',
        '{"model": "self-test", "messages": [{"role": "user", "content": "x"}], "temperature": 5}',
        'temperature',
      ],
      [
        '/v1/chat/completions',
        '{"model": "self-test", "messages": [{"role": "user", "content": "x"}], "n": 3}',
        'n',
      ],
      ['/v1/chat/completions', '{"model": ', null],
      ['/v1/embeddings', '{"model": "self-test"}', 'input'],
    ];
    for (const [path, body, param] of cases) {
      const r = await raw(path, body);
      expect(r.status, body).toBe(400);
      expect(r.body.error).toMatchObject({
        type: 'invalid_request_error',
        message: expect.any(String),
        param,
      });
    }
    const huge = await raw(
      '/v1/chat/completions',
      JSON.stringify({ model: 'self-test', messages: [{ role: 'user', content: 'word '.repeat(3000) }] }),
    );
    expect(huge.status).toBe(400);
    expect(huge.body.error.code).toBe('context_length_exceeded');
  });

  it('meters every request against the monthly budget, and refuses with insufficient_quota once spent', async () => {
    const client = openai('person-token', 'metered');
    await client.chat.completions.create({ model: 'self-test', messages: [{ role: 'user', content: 'hi' }] });
    const err = await client.chat.completions
      .create({ model: 'self-test', messages: [{ role: 'user', content: 'again' }], stream: true })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).code).toBe('insufficient_quota');
    const metered = served[1]!;
    const usage = (await metered.call('GET', '/v1/ai/usage')).json();
    expect(usage).toMatchObject({ requests: 1, budget: { budget: 10 } });
    expect(usage.total_tokens).toBeGreaterThan(10);
    // Stateless: nothing became a thread.
    expect((await metered.call('GET', '/v1/ai/threads')).json().threads).toEqual([]);
  });
});

describe('the instance process with an AI', () => {
  it('takes the AI connection on stdin and chats through its socket, never logging the key', async () => {
    const dir = `${root}/proc`;
    createTestInstance(keys, { dir, instanceId: 'proc' }).close();
    const proc = await spawnInstanceProcess({
      dir,
      hostKey: toHex(keys.hostKey),
      chain: null,
      logLevel: 'debug',
      ai: {
        url: service.url,
        key: service.key,
        models: ['self-test'],
        embeddingModel: null,
        monthlyTokenBudget: null,
      },
    });
    const ready = await proc.ready;
    expect(ready).not.toBeNull();
    try {
      const created = await callSocket(ready!.socket, 'POST', '/v1/ai/threads', PERSON, {});
      const id = created.json().thread.id as string;
      const reply = await callSocket(ready!.socket, 'POST', `/v1/ai/threads/${id}/messages`, PERSON, {
        content: 'Hello from the process test.',
      });
      expect(reply.status).toBe(200);
      expect(reply.json().content).toBe(TEST_MODEL_REPLY);
    } finally {
      proc.child.kill('SIGTERM');
      await proc.exit;
    }
    const logs = proc.logs.join('\n');
    expect(logs).not.toContain(service.key);
    expect(logs).not.toContain('Hello from the process test');
  });
});
