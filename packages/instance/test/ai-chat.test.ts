import { InferenceClient, TEST_MODEL_REPLY } from '@self/ai';
import { startTestInferenceService } from '@self/ai/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AiConnection, InferencePort } from '../src/ai/connection.js';
import { BackgroundEmbedder } from '../src/ai/embedder.js';
import { Instance } from '../src/instance.js';
import {
  PERSON,
  RecordingClient,
  serveInstance,
  tempRoot,
  type ServedInstance,
  type SseEvent,
} from './fixtures/ai-helpers.js';
import { testKeys } from './fixtures/instance-helpers.js';

/**
 * The assistant end to end: the instance server on its socket, the real inference service with the
 * test model (llama.cpp on the CPU), and what the model is sent read from a recorder in front of
 * the real client.
 */

process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD ??= 'true';

const { root, remove } = tempRoot('self-ai-chat-');
const keys = testKeys();
let service: Awaited<ReturnType<typeof startTestInferenceService>>;
let client: RecordingClient;
let s: ServedInstance;
const served: ServedInstance[] = [];

function connection(over: Partial<AiConnection> = {}): AiConnection {
  return {
    url: service.url,
    key: service.key,
    models: ['self-test'],
    embeddingModel: null,
    monthlyTokenBudget: null,
    ...over,
  };
}

async function serve(
  name: string,
  over: Partial<AiConnection> = {},
  port?: InferencePort,
): Promise<ServedInstance> {
  const one = await serveInstance(root, keys, name, { connection: connection(over), client: port ?? client });
  served.push(one);
  return one;
}

const byType = (events: SseEvent[], type: string) => events.filter((e) => e.event === type);
const only = (events: SseEvent[], type: string) => {
  const found = byType(events, type);
  expect(found, type).toHaveLength(1);
  return found[0]!.data;
};

beforeAll(async () => {
  service = await startTestInferenceService();
  client = new RecordingClient(new InferenceClient({ url: service.url, key: service.key }));
  s = await serve('main');
});

afterAll(async () => {
  for (const one of served) await one.close().catch(() => undefined);
  await service.close();
  remove();
});

describe('chatting', () => {
  it('reports the AI as available with the tier’s model', async () => {
    const status = (await s.call('GET', '/v1/ai/status')).json();
    expect(status).toMatchObject({
      configured: true,
      available: true,
      message: null,
      default_model: 'self-test',
      models: [{ id: 'self-test', context_length: 2048, state: 'ready' }],
      budget: { used: 0, budget: null },
    });
  });

  it('streams the reply as server-sent events and stores both messages', async () => {
    const id = await s.thread();
    const { reply, events } = await s.send(id, { content: 'Hello there, who are you?' });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(events.map((e) => e.event).filter((t, i, all) => t !== 'delta' || all[i - 1] !== 'delta')).toEqual(
      ['start', 'context', 'citations', 'delta', 'done'],
    );
    const start = only(events, 'start');
    expect(start).toMatchObject({
      thread_id: id,
      model: 'self-test',
      user_message: { role: 'user', content: 'Hello there, who are you?' },
    });
    expect(only(events, 'context')).toMatchObject({
      mode: 'full',
      omitted_messages: 0,
      summarized_messages: 0,
    });
    expect(only(events, 'citations')).toEqual({ sources: [] });
    const deltas = byType(events, 'delta');
    expect(deltas.length).toBeGreaterThan(3);
    expect(deltas.map((d) => d.data.content).join('')).toBe(TEST_MODEL_REPLY);
    const done = only(events, 'done');
    expect(done.message).toMatchObject({ role: 'assistant', content: TEST_MODEL_REPLY, status: 'complete' });
    expect(done.usage.completion_tokens).toBeGreaterThan(0);
    expect(done.usage.prompt_tokens).toBeGreaterThan(0);
    expect(done.budget).toMatchObject({ used: done.usage.total_tokens, budget: null });

    const thread = (await s.call('GET', `/v1/ai/threads/${id}`)).json();
    expect(thread.thread).toMatchObject({ title: 'Hello there, who are you?', message_count: 2 });
    expect(thread.messages.map((m: { role: string; status: string }) => [m.role, m.status])).toEqual([
      ['user', 'complete'],
      ['assistant', 'complete'],
    ]);
    expect(thread.messages[1].meta).toMatchObject({
      model: 'self-test',
      context: { mode: 'full' },
      citations: [],
    });
    expect(thread.messages[0].tokens).toBeGreaterThan(0);
  });

  it('answers with one JSON body when the client does not ask for a stream', async () => {
    const id = await s.thread('json');
    const r = await s.call('POST', `/v1/ai/threads/${id}/messages`, { content: 'Just the answer, please.' });
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({
      thread_id: id,
      model: 'self-test',
      content: TEST_MODEL_REPLY,
      context: { mode: 'full' },
      citations: [],
      memory: [],
      message: { role: 'assistant', content: TEST_MODEL_REPLY, status: 'complete' },
      usage: { completion_tokens: expect.any(Number) },
    });
  });

  it('keeps the history across a restart and gives it to the model', async () => {
    const one = await serve('restart');
    const id = await one.thread();
    await one.send(id, { content: 'The first thing I say.' });
    await one.close();
    const again = await serveInstance(
      root,
      keys,
      'restart',
      { connection: connection(), client },
      {
        dir: one.dir,
        open: (dir) => Instance.open({ dir, hostKey: keys.hostKey }),
      },
    );
    served.push(again);
    const page = (await again.call('GET', `/v1/ai/threads/${id}`)).json();
    expect(page.messages.map((m: { content: string }) => m.content)).toEqual([
      'The first thing I say.',
      TEST_MODEL_REPLY,
    ]);

    const { events } = await again.send(id, { content: 'And the second.' });
    expect(only(events, 'context')).toMatchObject({
      mode: 'full',
      note: expect.stringMatching(/2 earlier messages/),
    });
    const sent = client.chats.at(-1)!;
    expect(sent.messages.slice(1)).toEqual([
      { role: 'user', content: 'The first thing I say.' },
      { role: 'assistant', content: TEST_MODEL_REPLY },
      { role: 'user', content: 'And the second.' },
    ]);
  });

  it('refuses an unknown model and a message larger than the context, storing nothing', async () => {
    const id = await s.thread('refusals');
    const unknown = await s.call('POST', `/v1/ai/threads/${id}/messages`, { content: 'hi', model: 'gpt-9' });
    expect(unknown.status).toBe(404);
    expect(unknown.json()).toMatchObject({ error: 'model_not_found', details: { models: ['self-test'] } });
    const huge = await s.call('POST', `/v1/ai/threads/${id}/messages`, { content: 'word '.repeat(1000) });
    expect(huge.status).toBe(400);
    expect(huge.json()).toMatchObject({ error: 'prompt_too_large', details: { context_length: 2048 } });
    const missing = await s.call('POST', `/v1/ai/threads/th_${'0'.repeat(24)}/messages`, { content: 'hi' });
    expect(missing.status).toBe(404);
    expect((await s.call('GET', `/v1/ai/threads/${id}`)).json().thread.message_count).toBe(0);
  });
});

describe('an unreachable service', () => {
  it('answers 503 ai_unavailable saying what to do, stores nothing, and status says why', async () => {
    const dead = new InferenceClient({ url: 'http://127.0.0.1:1', key: 'x' });
    const down = await serve('down', { url: 'http://127.0.0.1:1' }, dead);
    const id = await down.thread();
    const r = await down.call('POST', `/v1/ai/threads/${id}/messages`, { content: 'anyone there?' });
    expect(r.status).toBe(503);
    expect(r.json()).toMatchObject({
      error: 'ai_unavailable',
      message: expect.stringMatching(/cannot be reached.*self up/),
    });
    expect((await down.call('GET', `/v1/ai/threads/${id}`)).json().thread.message_count).toBe(0);
    const status = (await down.call('GET', '/v1/ai/status')).json();
    expect(status).toMatchObject({
      configured: true,
      available: false,
      message: expect.stringMatching(/cannot be reached/),
    });
    expect(
      down.inst
        .auditEntries(1, 1000)
        .some((e) => e.action === 'ai.chat.ai_unavailable' && e.outcome === 'error'),
    ).toBe(true);
  });
});

describe('retrieval', () => {
  it("cites the person's notes that match, and no longer cites a deleted one", async () => {
    const put = await s.call(
      'PUT',
      '/v1/data/notes/spare-key',
      'The spare key is under the blue flowerpot by the door.',
      {
        ...PERSON,
        'content-type': 'text/plain',
      },
    );
    expect(put.status).toBe(200);
    const id = await s.thread();
    const { events } = await s.send(id, { content: 'Where did I put the spare key?' });
    const citations = only(events, 'citations');
    expect(citations.sources).toEqual([
      { n: 1, collection: 'notes', key: 'spare-key', snippet: expect.stringContaining('flowerpot') },
    ]);
    expect(client.lastSystemPrompt()).toContain(
      '[1] notes/spare-key\nThe spare key is under the blue flowerpot',
    );
    expect(only(events, 'done').message.meta.citations).toEqual(citations.sources);

    expect((await s.call('DELETE', '/v1/data/notes/spare-key')).status).toBe(204);
    const after = await s.send(id, { content: 'Where did I put the spare key?' });
    expect(only(after.events, 'citations')).toEqual({ sources: [] });
    expect(client.lastSystemPrompt()).not.toContain('flowerpot');
  });
});

describe('memory', () => {
  it('keeps what the person asks it to remember, uses it in later chats, and follows edits and deletes', async () => {
    const id = await s.thread();
    const { events } = await s.send(id, { content: 'Please remember that my sister is Ada.' });
    const memory = only(events, 'memory');
    expect(memory.items).toEqual([
      expect.objectContaining({
        content: 'My sister is Ada',
        source: { thread_id: id, message_id: expect.any(Number) },
      }),
    ]);
    const order = events.map((e) => e.event);
    expect(order.indexOf('memory')).toBeGreaterThan(order.lastIndexOf('delta'));
    expect(order.indexOf('memory')).toBeLessThan(order.indexOf('done'));
    const itemId = memory.items[0].id as number;
    expect((await s.call('GET', '/v1/ai/memory')).json().items.map((i: { id: number }) => i.id)).toContain(
      itemId,
    );

    const later = await s.thread();
    await s.send(later, { content: 'What should I get for a birthday present?' });
    expect(client.lastSystemPrompt()).toContain('- My sister is Ada');

    // Saying it again proposes nothing new.
    const again = await s.send(later, { content: 'remember: my sister is ada' });
    expect(byType(again.events, 'memory')).toEqual([]);

    await s.call('PATCH', `/v1/ai/memory/${itemId}`, { content: 'My sister is Ada Lovelace' });
    await s.send(later, { content: 'Any ideas?' });
    expect(client.lastSystemPrompt()).toContain('- My sister is Ada Lovelace');
    await s.call('DELETE', `/v1/ai/memory/${itemId}`);
    await s.send(later, { content: 'Any other ideas?' });
    expect(client.lastSystemPrompt()).not.toContain('My sister');
  });
});

describe('metering', () => {
  it('refuses once the month’s budget is spent, with nothing stored', async () => {
    const metered = await serve('budget', { monthlyTokenBudget: 50 });
    const id = await metered.thread();
    const first = await metered.send(id, { content: 'One message within the budget.' });
    const used = only(first.events, 'done').budget.used as number;
    expect(used).toBeGreaterThanOrEqual(50);

    const refused = await metered.send(id, { content: 'And one more.' });
    expect(refused.reply.status).toBe(429);
    expect(refused.reply.json()).toMatchObject({
      error: 'ai_budget_exhausted',
      details: { used, budget: 50, resets_at: expect.stringMatching(/^\d{4}-\d{2}-01T00:00:00\.000Z$/) },
    });
    expect((await metered.call('GET', `/v1/ai/threads/${id}`)).json().thread.message_count).toBe(2);
    const usage = (await metered.call('GET', '/v1/ai/usage')).json();
    expect(usage).toMatchObject({ total_tokens: used, requests: 1, budget: { used, budget: 50 } });

    const actions = metered.inst.auditEntries(1, 1000).map((e) => `${e.action}:${e.outcome}:${e.object}`);
    expect(actions).toContain(`ai.chat:ok:ai/threads/${id}`);
    expect(actions).toContain(`ai.chat.ai_budget_exhausted:error:ai/threads/${id}`);
    expect(actions.join('\n')).not.toMatch(/budget\./);
  });
});

describe('vectors', () => {
  it('embeds notes in the background and finds them by similarity where the words differ', async () => {
    const vec = await serve('vectors', { embeddingModel: 'self-test' });
    await vec.call('PUT', '/v1/data/notes/key', 'The spare key is under the blue flowerpot.', {
      ...PERSON,
      'content-type': 'text/plain',
    });
    await vec.call('PUT', '/v1/data/notes/tax', 'Meeting with the accountant on Tuesday at nine.', {
      ...PERSON,
      'content-type': 'text/plain',
    });
    const retrieval = vec.inst.aiState().retrieval;
    for (let i = 0; i < 200 && retrieval.embeddedCount('self-test') < 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(retrieval.embeddedCount('self-test')).toBe(2);
    expect(retrieval.search('flowrpots')).toEqual([]); // no word in common
    const id = await vec.thread();
    const { events } = await vec.send(id, { content: 'flowrpots' });
    expect(only(events, 'citations').sources[0]).toMatchObject({ collection: 'notes', key: 'key' });

    // A changed note is embedded again (its etag moved on); a deleted one leaves no vector.
    await vec.call('PUT', '/v1/data/notes/key', 'Moved the key to the mailbox.', {
      ...PERSON,
      'content-type': 'text/plain',
    });
    for (let i = 0; i < 200 && retrieval.pendingEmbeddings('self-test', 10, 100).length > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(retrieval.embeddedCount('self-test')).toBe(2);
    await vec.call('DELETE', '/v1/data/notes/tax');
    expect(retrieval.embeddedCount('self-test')).toBe(1);
    expect(retrieval.documentCount()).toBe(1);
  });

  it('survives the service being down and catches up when it is back', async () => {
    const inst = (await serve('embedder-down')).inst;
    inst.put({ kind: 'person', did: inst.did }, 'notes', 'n', new TextEncoder().encode('a note to embed'), {
      contentType: 'text/plain',
    });
    let down = true;
    const real = new InferenceClient({ url: service.url, key: service.key });
    const dead = new InferenceClient({ url: 'http://127.0.0.1:1', key: 'x' });
    const switching: InferencePort = {
      models: () => (down ? dead : real).models(),
      chat: (r) => (down ? dead : real).chat(r),
      chatStream: (r, o) => (down ? dead : real).chatStream(r, o),
      embed: (r) => (down ? dead : real).embed(r),
      tokenize: (r) => (down ? dead : real).tokenize(r),
    };
    const embedder = new BackgroundEmbedder({
      index: inst.aiState().retrieval,
      client: switching,
      model: 'self-test',
    });
    expect(await embedder.drain()).toBe(false);
    expect(inst.aiState().retrieval.embeddedCount('self-test')).toBe(0);
    down = false;
    expect(await embedder.drain()).toBe(true);
    const retrieval = inst.aiState().retrieval;
    expect(retrieval.embeddedCount('self-test')).toBe(1);

    // A vector made from text that changed meanwhile is not kept: the next round embeds the new text.
    const [pending] = (() => {
      inst.put({ kind: 'person', did: inst.did }, 'notes', 'n', new TextEncoder().encode('new text'), {
        contentType: 'text/plain',
      });
      return retrieval.pendingEmbeddings('self-test', 10, 100);
    })();
    expect(pending?.text).toBe('new text');
    inst.put({ kind: 'person', did: inst.did }, 'notes', 'n', new TextEncoder().encode('newer text'), {
      contentType: 'text/plain',
    });
    expect(
      retrieval.storeEmbedding(pending!.docId, pending!.etag, 'self-test', new Float32Array([1, 0])),
    ).toBe(false);
    expect(retrieval.embeddedCount('self-test')).toBe(0);
    expect(await embedder.drain()).toBe(true);
    expect(retrieval.embeddedCount('self-test')).toBe(1);
  });
});
