import { createServer, connect, type Server, type Socket } from 'node:net';
import { request } from 'node:http';
import { InferenceClient, TEST_MODEL_REPLY } from '@self/ai';
import { TEST_LONG_REPLY, startTestInferenceService } from '@self/ai/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AiConnection } from '../src/ai/connection.js';
import {
  PERSON,
  RecordingClient,
  parseSse,
  serveInstance,
  tempRoot,
  type ServedInstance,
  type SseEvent,
} from './fixtures/ai-helpers.js';
import { testKeys } from './fixtures/instance-helpers.js';

/**
 * Long threads on a small context (512 tokens), and faults while a reply streams: the inference
 * service dying mid-stream and the client going away. The service is the real one with the test
 * model; it is reached through a TCP relay, so that "the service died" is a real broken connection.
 */

process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD ??= 'true';

const { root, remove } = tempRoot('self-ai-context-');
const keys = testKeys();
let service: Awaited<ReturnType<typeof startTestInferenceService>>;
let relay: Relay;
let client: RecordingClient;
let s: ServedInstance;
const served: ServedInstance[] = [];

/** A TCP relay to the service; `kill()` breaks every connection through it, as a crash would. */
interface Relay {
  url: string;
  kill: () => void;
  close: () => Promise<void>;
}

async function startRelay(target: URL): Promise<Relay> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = connect(Number(target.port), target.hostname);
    for (const sock of [inbound, outbound]) {
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
      sock.on('error', () => undefined);
    }
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    kill: () => {
      for (const sock of sockets) sock.resetAndDestroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const sock of sockets) sock.destroy();
        server.close(() => resolve());
      }),
  };
}

function connection(over: Partial<AiConnection> = {}): AiConnection {
  return {
    url: relay.url,
    key: service.key,
    models: ['self-test', 'self-test-long'],
    embeddingModel: null,
    monthlyTokenBudget: null,
    ...over,
  };
}

const only = (events: SseEvent[], type: string) => {
  const found = events.filter((e) => e.event === type);
  expect(found, type).toHaveLength(1);
  return found[0]!.data;
};

beforeAll(async () => {
  service = await startTestInferenceService({ contextSize: 512, longModel: true });
  relay = await startRelay(new URL(service.url));
  client = new RecordingClient(new InferenceClient({ url: relay.url, key: service.key }));
  s = await serveInstance(root, keys, 'ctx', { connection: connection(), client });
  served.push(s);
});

afterAll(async () => {
  for (const one of served) await one.close().catch(() => undefined);
  await relay.close();
  await service.close();
  remove();
});

/**
 * Opens the SSE stream of a message and hands each event to `onEvent` as it arrives; `abort()`
 * (given to onEvent) drops the connection. Resolves with the events seen.
 */
function streamMessage(
  socketPath: string,
  threadId: string,
  body: Record<string, unknown>,
  onEvent: (e: SseEvent, abort: () => void) => void,
): Promise<SseEvent[]> {
  return new Promise((resolve, reject) => {
    const seen: SseEvent[] = [];
    let buffer = '';
    const payload = JSON.stringify(body);
    const req = request(
      {
        socketPath,
        method: 'POST',
        path: `/v1/ai/threads/${threadId}/messages`,
        headers: { ...PERSON, accept: 'text/event-stream', 'content-type': 'application/json' },
        agent: false,
      },
      (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let at: number;
          while ((at = buffer.indexOf('\n\n')) >= 0) {
            const [event] = parseSse(buffer.slice(0, at + 2));
            buffer = buffer.slice(at + 2);
            if (event === undefined) continue;
            seen.push(event);
            onEvent(event, () => {
              req.destroy();
              resolve(seen);
            });
          }
        });
        res.on('end', () => resolve(seen));
        res.on('error', () => resolve(seen));
      },
    );
    req.on('error', (err) => (req.destroyed ? resolve(seen) : reject(err)));
    req.end(payload);
  });
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  expect(check()).toBe(true);
}

describe('a long thread on a small context', () => {
  it('summarizes the oldest part with the model, stores the summary and reuses it, and says so', async () => {
    const id = await s.thread('long');
    const modes: string[] = [];
    let summarizedEvent: Record<string, unknown> | null = null;
    for (let i = 1; i <= 5; i++) {
      const before = client.chats.length;
      const { events } = await s.send(id, {
        content: `Message number ${i} of the long thread.`,
        max_tokens: 24,
      });
      const context = only(events, 'context');
      modes.push(context.mode);
      expect(only(events, 'done').message.content).toBe(TEST_MODEL_REPLY);
      if (context.mode === 'summary' && summarizedEvent === null) {
        summarizedEvent = context;
        // The summarizer ran: a non-streamed completion before the reply.
        const summarizer = client.chats.slice(before).filter((c) => c.stream !== true);
        expect(summarizer.length).toBeGreaterThan(0);
        expect(summarizer[0]!.messages[1]!.content).toContain('Person: Message number 1 of the long thread.');
        expect(client.lastSystemPrompt()).toContain('Summary of the earlier part of this conversation');
        expect(only(events, 'done').message.meta.context).toEqual(context);
      }
    }
    expect(modes[0]).toBe('full');
    expect(modes).toContain('summary');
    expect(modes).not.toContain('window');
    expect(summarizedEvent).toMatchObject({
      summarized_messages: expect.any(Number),
      note: expect.stringMatching(/summary of \d+ earlier message/),
    });
    expect(summarizedEvent!.summarized_messages as number).toBeGreaterThan(0);
    // Later messages extend the stored summary rather than summarizing everything again.
    const extending = client.chats.filter(
      (c) => c.stream !== true && c.messages[1]!.content.startsWith('Summary so far:'),
    );
    expect(extending.length).toBeGreaterThan(0);
    expect(extending[0]!.messages[1]!.content).toContain(TEST_MODEL_REPLY);

    const thread = (await s.call('GET', `/v1/ai/threads/${id}`)).json().thread;
    expect(thread.summary).toMatchObject({ text: TEST_MODEL_REPLY, summarized_messages: expect.any(Number) });
    expect(thread.message_count).toBe(10);
    // The summaries were metered too: more requests than replies.
    const usage = (await s.call('GET', '/v1/ai/usage')).json();
    expect(usage.requests).toBeGreaterThan(5);
  });

  it('falls back to a window of the newest messages when summarizing fails, and says why', async () => {
    const id = await s.thread('window');
    client.failChat = true;
    try {
      let last: Record<string, unknown> = {};
      for (let i = 1; i <= 3; i++) {
        const { events } = await s.send(id, { content: `Window message ${i}.`, max_tokens: 24 });
        last = only(events, 'context');
        expect(only(events, 'done').message.status).toBe('complete');
      }
      expect(last).toMatchObject({
        mode: 'window',
        summarized_messages: 0,
        note: expect.stringMatching(/summarizing the older messages failed \(ai_unavailable\)/),
      });
      expect(last.omitted_messages as number).toBeGreaterThan(0);
      expect(client.lastSystemPrompt()).toMatch(
        /\d+ earlier messages of this conversation are not shown to you/,
      );
      expect((await s.call('GET', `/v1/ai/threads/${id}`)).json().thread.summary).toBeNull();
    } finally {
      client.failChat = false;
    }
  });

  it('refuses a single message that alone does not fit, before storing anything', async () => {
    const id = await s.thread('too-large');
    const r = await s.call('POST', `/v1/ai/threads/${id}/messages`, { content: 'x'.repeat(600) });
    expect(r.status).toBe(400);
    expect(r.json()).toMatchObject({ error: 'prompt_too_large', details: { context_length: 512 } });
    expect((await s.call('GET', `/v1/ai/threads/${id}`)).json().thread.message_count).toBe(0);
  });
});

describe('faults while a reply streams', () => {
  it('keeps the partial reply, marked incomplete, when the service dies mid-stream', async () => {
    const id = await s.thread('crash');
    let killed = false;
    const events = await streamMessage(
      s.socket,
      id,
      { content: 'Tell me a long story.', model: 'self-test-long' },
      (e) => {
        if (e.event === 'delta' && !killed) {
          killed = true;
          relay.kill();
        }
      },
    );
    const error = only(events, 'error');
    expect(error).toMatchObject({ error: 'inference_failed', partial_message_id: expect.any(Number) });
    expect(events.some((e) => e.event === 'done')).toBe(false);
    const page = (await s.call('GET', `/v1/ai/threads/${id}`)).json();
    const reply = page.messages[1];
    expect(reply).toMatchObject({ id: error.partial_message_id, role: 'assistant', status: 'incomplete' });
    expect(reply.meta.error).toBe('inference_failed');
    expect(TEST_LONG_REPLY.startsWith(reply.content)).toBe(true);
    expect(reply.content.length).toBeLessThan(TEST_LONG_REPLY.length);
    const streamed = events
      .filter((e) => e.event === 'delta')
      .map((e) => e.data.content as string)
      .join('');
    expect(reply.content).toBe(streamed);
    expect(page.messages[0]).toMatchObject({ role: 'user', content: 'Tell me a long story.' });

    // The service is back (new connections go through): the next message is answered.
    const next = await s.send(id, { content: 'Are you back?', max_tokens: 24 });
    expect(only(next.events, 'done').message.status).toBe('complete');
  });

  it('ends an OpenAI-compatible stream with an error event when the service dies, and meters what arrived', async () => {
    const before = (await s.call('GET', '/v1/ai/usage')).json();
    const body = await new Promise<string>((resolve, reject) => {
      let text = '';
      let killed = false;
      const req = request(
        {
          socketPath: s.socket,
          method: 'POST',
          path: '/v1/chat/completions',
          headers: { ...PERSON, 'content-type': 'application/json' },
          agent: false,
        },
        (res) => {
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
            if (!killed && text.includes('"content"')) {
              killed = true;
              relay.kill();
            }
          });
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.end(
        JSON.stringify({
          model: 'self-test-long',
          messages: [{ role: 'user', content: 'A long one.' }],
          stream: true,
        }),
      );
    });
    const lines = body.split('\n\n').filter((l) => l.startsWith('data: '));
    expect(lines.at(-1)).toMatch(
      /^data: \{"error":\{"message":".+","type":"server_error","code":"inference_failed"/,
    );
    expect(body).not.toContain('[DONE]');
    const after = (await s.call('GET', '/v1/ai/usage')).json();
    expect(after.completion_tokens).toBeGreaterThan(before.completion_tokens);
  });

  it('keeps the partial reply when the client goes away, and stops the generation', async () => {
    const id = await s.thread('disconnect');
    const usageBefore = (await s.call('GET', '/v1/ai/usage')).json();
    const events = await streamMessage(
      s.socket,
      id,
      { content: 'Another long story, please.', model: 'self-test-long' },
      (e, abort) => {
        if (e.event === 'delta') abort();
      },
    );
    expect(events.some((e) => e.event === 'delta')).toBe(true);
    await until(() => s.inst.aiState().threads.require(id).messageCount === 2);
    const reply = (await s.call('GET', `/v1/ai/threads/${id}`)).json().messages[1];
    expect(reply).toMatchObject({
      role: 'assistant',
      status: 'incomplete',
      meta: { error: 'client_disconnected' },
    });
    expect(TEST_LONG_REPLY.startsWith(reply.content)).toBe(true);
    expect(reply.content.length).toBeLessThan(TEST_LONG_REPLY.length);
    const usageAfter = (await s.call('GET', '/v1/ai/usage')).json();
    expect(usageAfter.completion_tokens).toBeGreaterThan(usageBefore.completion_tokens);
  });
});
