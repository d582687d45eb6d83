import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proposeMemories } from '../src/ai/memory-proposals.js';
import { buildPrompt, systemPrompt } from '../src/ai/prompt.js';
import { ftsQuery } from '../src/ai/fts-query.js';
import { Instance } from '../src/instance.js';
import { parseProcessConfig } from '../src/process/protocol.js';
import { PERSON, appHeaders, serveInstance, tempRoot, type ServedInstance } from './fixtures/ai-helpers.js';
import { TEST_DID, createTestInstance, testKeys } from './fixtures/instance-helpers.js';
import { testAppId } from './fixtures/app-tokens.js';

/**
 * The assistant's state without a model: the retrieval index kept by Instance.put/delete, threads
 * and their paging (a 400K-token thread), memory items, metering, prompts, the process config, and
 * an instance with no AI configured.
 */

const { root, remove } = tempRoot('self-ai-state-');
const keys = testKeys();
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = { contentType: 'text/plain; charset=utf-8' };
const person = { kind: 'person', did: TEST_DID } as const;
let n = 0;
const fresh = (opts: { now?: () => number } = {}): Instance =>
  createTestInstance(keys, { dir: `${root}/i${++n}`, instanceId: `i${n}`, ...opts });

afterAll(remove);

describe('retrieval index', () => {
  let inst: Instance;
  beforeAll(() => {
    inst = fresh();
  });
  afterAll(() => inst.close());
  const search = (q: string) => inst.aiState().retrieval.search(q);

  it('indexes text notes as they are put and forgets them when deleted', () => {
    inst.put(person, 'notes', 'garden', enc('The tomatoes need water every morning in July.'), text);
    const hits = search('when do the tomatoes need water?');
    expect(hits).toEqual([
      {
        collection: 'notes',
        key: 'garden',
        snippet: expect.stringContaining('tomatoes'),
        score: expect.any(Number),
      },
    ]);
    inst.delete(person, 'notes', 'garden');
    expect(search('tomatoes')).toEqual([]);
  });

  it("indexes JSON by its string values, folds diacritics, and ranks by the person's words", () => {
    const contact = { name: 'Zoë Müller', city: 'Zürich', phone: 41123, tags: ['climbing partner'] };
    inst.put(person, 'contacts', 'zoe', enc(JSON.stringify(contact)), { contentType: 'application/json' });
    inst.put(
      person,
      'notes',
      'trip',
      enc('Climbing trip to Zurich with Zoe in May, climbing every day.'),
      text,
    );
    expect(search('zoe muller')[0]!.key).toBe('zoe');
    expect(search('city')).toEqual([]); // a key, not content
    const climbing = search('climbing zurich');
    expect(climbing.map((h) => h.key).sort()).toEqual(['trip', 'zoe']);
  });

  it('skips binary values, the chat collection and apps’ namespaces; drops an object that stops being text', () => {
    inst.put(person, 'files', 'photo', enc('walrus walrus'), { contentType: 'image/png' });
    inst.put(person, 'chat', 'log', enc('walrus in the chat'), text);
    const app = { kind: 'app', did: TEST_DID, appId: 'notes-app', scopes: ['storage:write'] } as const;
    inst.put(app, 'notes', 'mine', enc('walrus of the app'), text);
    expect(search('walrus')).toEqual([]);

    inst.put(person, 'notes', 'animal', enc('a walrus'), text);
    expect(search('walrus').map((h) => h.key)).toEqual(['animal']);
    inst.put(person, 'notes', 'animal', enc('a walrus'), { contentType: 'application/octet-stream' });
    expect(search('walrus')).toEqual([]);
  });

  it('leaves no index row for a put that rolls back', () => {
    const v1 = inst.put(person, 'notes', 'draft', enc('first draft about otters'), text);
    expect(() =>
      inst.put(person, 'notes', 'draft', enc('second draft about beavers'), {
        ...text,
        ifMatch: '0'.repeat(64),
      }),
    ).toThrow(/changed since you read it/);
    expect(search('beavers')).toEqual([]);
    expect(search('otters').map((h) => h.key)).toEqual(['draft']);
    // A failing write inside a batch rolls back its savepoint only.
    inst.batch(() => {
      inst.put(person, 'notes', 'kept', enc('kept note about herons'), text);
      try {
        inst.put(person, 'notes', 'draft', enc('herons and beavers'), {
          ...text,
          ifMatch: v1.etag.replace(/./, 'f'),
        });
      } catch {
        // refused: conflict
      }
    });
    expect(search('herons').map((h) => h.key)).toEqual(['kept']);
    expect(search('beavers')).toEqual([]);
  });

  it('builds queries from words, never from FTS syntax in the input', () => {
    inst.put(person, 'notes', 'syntax', enc('NEAR the column: star * and quote " marks'), text);
    for (const q of ['NEAR(a b)', '"unbalanced', 'notes:star', '* OR -x', 'a AND (b', '^start']) {
      expect(() => search(q)).not.toThrow();
    }
    expect(search('"unbalanced quote marks').map((h) => h.key)).toContain('syntax');
    expect(search('')).toEqual([]);
    expect(search('   ?!  ')).toEqual([]);
    expect(ftsQuery('say "hi" NEAR me')).toBe('"say" OR "hi" OR "near"');
  });

  it('indexes the first MiB of a large text', () => {
    const head = 'aardvark '.repeat(10);
    const big = `${head}${'x'.repeat(1024 * 1024)} zebrafish`;
    inst.put(person, 'notes', 'big', enc(big), text);
    expect(search('aardvark').map((h) => h.key)).toContain('big');
    expect(search('zebrafish')).toEqual([]);
  });

  it('indexes the objects stored before the index existed, once, when it is created', () => {
    const dir = `${root}/backfill`;
    const old = createTestInstance(keys, { dir, instanceId: 'backfill' });
    old.put(person, 'notes', 'a', enc('an old note about lighthouses'), text);
    old.put(person, 'chat', 'b', enc('lighthouses in a chat'), text);
    // As a database from before the assistant: no retrieval tables.
    old.aiState().db.exec('DROP TABLE ai_docs; DROP TABLE ai_docs_fts; DROP TABLE ai_vectors;');
    old.close();
    const reopened = Instance.open({ dir, hostKey: keys.hostKey });
    try {
      expect(
        reopened
          .aiState()
          .retrieval.search('lighthouses')
          .map((h) => h.key),
      ).toEqual(['a']);
      expect(reopened.aiState().retrieval.documentCount()).toBe(1);
    } finally {
      reopened.close();
    }
  });
});

describe('threads and messages', () => {
  let s: ServedInstance;
  beforeAll(async () => {
    s = await serveInstance(root, keys, 'threads', null);
  });
  afterAll(() => s.close());

  it('creates, lists, renames and deletes threads', async () => {
    const created = await s.call('POST', '/v1/ai/threads', { title: 'Garden plans' });
    expect(created.status).toBe(201);
    const thread = created.json().thread;
    expect(thread).toMatchObject({ title: 'Garden plans', message_count: 0, token_count: 0, summary: null });
    expect(thread.id).toMatch(/^th_[0-9a-f]{24}$/);
    const untitled = (await s.call('POST', '/v1/ai/threads')).json().thread;
    expect(untitled.title).toBeNull();

    const list = (await s.call('GET', '/v1/ai/threads')).json();
    expect(list.threads.map((t: { id: string }) => t.id)).toEqual(
      expect.arrayContaining([thread.id, untitled.id]),
    );
    const page1 = (await s.call('GET', '/v1/ai/threads?limit=1')).json();
    expect(page1.threads).toHaveLength(1);
    const page2 = (await s.call('GET', `/v1/ai/threads?limit=1&before=${page1.cursor}`)).json();
    expect(page2.threads).toHaveLength(1);
    expect(page2.threads[0].id).not.toBe(page1.threads[0].id);

    const renamed = await s.call('PATCH', `/v1/ai/threads/${thread.id}`, { title: 'Vegetables' });
    expect(renamed.json().thread.title).toBe('Vegetables');
    expect((await s.call('DELETE', `/v1/ai/threads/${thread.id}`)).status).toBe(204);
    const gone = await s.call('GET', `/v1/ai/threads/${thread.id}`);
    expect(gone.status).toBe(404);
    expect(gone.json()).toMatchObject({ error: 'not_found', details: { thread_id: thread.id } });
  });

  it('refuses malformed input with 400 and the field', async () => {
    const id = await s.thread();
    const cases: Array<[string, string, unknown]> = [
      ['POST', '/v1/ai/threads', { title: 'x'.repeat(201) }],
      ['POST', '/v1/ai/threads', { title: 'a', extra: 1 }],
      ['PATCH', `/v1/ai/threads/${id}`, {}],
      ['POST', `/v1/ai/threads/${id}/messages`, { content: '' }],
      ['POST', `/v1/ai/threads/${id}/messages`, { content: 'x'.repeat(256 * 1024 + 1) }],
      ['POST', `/v1/ai/threads/${id}/messages`, { content: 'hi', max_tokens: 0 }],
      ['POST', `/v1/ai/threads/${id}/messages`, { content: 42 }],
      ['POST', '/v1/ai/memory', { content: '' }],
      ['POST', '/v1/ai/threads', '{"title": '],
      ['GET', '/v1/ai/threads/not-a-thread', undefined],
      ['GET', `/v1/ai/threads/${id}?limit=0`, undefined],
    ];
    for (const [method, path, body] of cases) {
      const r = await s.call(method, path, body);
      expect(r.status, `${method} ${path}`).toBe(400);
      expect(r.json()).toMatchObject({
        error: 'invalid_request',
        message: expect.any(String),
        details: expect.any(Object),
      });
    }
  });

  it('opens a 400K-token thread from one index range: the newest page, then older ones on request', async () => {
    const id = await s.thread('long');
    const state = s.inst.aiState();
    const body = 'lorem ipsum dolor sit amet '.repeat(30).slice(0, 800);
    state.transaction(() => {
      for (let i = 0; i < 2000; i++) {
        state.threads.addMessage(id, {
          role: i % 2 === 0 ? 'user' : 'assistant',
          content: `${i} ${body}`,
          tokens: 200,
          status: 'complete',
          meta: {},
        });
      }
    });
    const opened = await s.call('GET', `/v1/ai/threads/${id}`);
    expect(opened.status).toBe(200);
    const page = opened.json();
    expect(page.thread).toMatchObject({ message_count: 2000, token_count: 400_000 });
    expect(page.messages).toHaveLength(50);
    expect(page.has_more).toBe(true);
    expect(page.messages[0].content.startsWith('1950 ')).toBe(true);
    expect(page.messages[49].content.startsWith('1999 ')).toBe(true);

    // The whole thread, walked back page by page, oldest page last.
    let before = page.messages[0].id as number;
    let seen = page.messages.length;
    for (;;) {
      const older = (await s.call('GET', `/v1/ai/threads/${id}?before=${before}&limit=200`)).json();
      seen += older.messages.length;
      if (!older.has_more) {
        expect(older.messages[0].content.startsWith('0 ')).toBe(true);
        break;
      }
      before = older.messages[0].id;
    }
    expect(seen).toBe(2000);

    // The page query is a range scan of the (thread_id, id) index, not a scan of the thread.
    const plan = state.db
      .prepare(
        `EXPLAIN QUERY PLAN SELECT id, content FROM ai_messages WHERE thread_id = ? AND id < ? ORDER BY id DESC LIMIT 51`,
      )
      .all(id, Number.MAX_SAFE_INTEGER) as Array<{ detail: string }>;
    expect(plan.map((p) => p.detail).join(' | ')).toMatch(
      /SEARCH ai_messages USING (COVERING )?INDEX ai_messages_by_thread \(thread_id=\? AND (id|rowid)<\?\)/,
    );
    expect(plan.map((p) => p.detail).join(' | ')).not.toMatch(/TEMP B-TREE/);
  });
});

describe('memory items', () => {
  let s: ServedInstance;
  beforeAll(async () => {
    s = await serveInstance(root, keys, 'memory', null);
  });
  afterAll(() => s.close());

  it('proposes items from requests to remember and from simple self-statements', () => {
    expect(proposeMemories('remember that my sister is Ada')).toEqual(['My sister is Ada']);
    expect(proposeMemories('Please remember I take the 7:40 train.')).toEqual(['I take the 7:40 train']);
    expect(proposeMemories('Remember: the wifi password is on the fridge')).toEqual([
      'The wifi password is on the fridge',
    ]);
    expect(
      proposeMemories("Hi! My name is Ada Lovelace. I'm a mathematician. I love opera. What's new?"),
    ).toEqual(['My name is Ada Lovelace', "I'm a mathematician", 'I love opera']);
    expect(proposeMemories("I'm not sure what to cook. Is my oven hot? remember to buy milk")).toEqual([]);
    expect(proposeMemories('what is the capital of France?')).toEqual([]);
  });

  it('is created, deduplicated, edited and deleted by the person', async () => {
    const a = await s.call('POST', '/v1/ai/memory', { content: 'I prefer tea over coffee' });
    expect(a.status).toBe(201);
    const item = a.json().item;
    expect(item).toMatchObject({ content: 'I prefer tea over coffee', source: null });
    const again = await s.call('POST', '/v1/ai/memory', { content: '  i PREFER tea   over coffee.' });
    expect(again.status).toBe(200);
    expect(again.json()).toMatchObject({ created: false, item: { id: item.id } });

    const b = (await s.call('POST', '/v1/ai/memory', { content: 'I live in Lisbon' })).json().item;
    const edited = await s.call('PATCH', `/v1/ai/memory/${item.id}`, { content: 'I prefer green tea' });
    expect(edited.json().item).toMatchObject({ id: item.id, content: 'I prefer green tea' });
    const clash = await s.call('PATCH', `/v1/ai/memory/${item.id}`, { content: 'i live in lisbon' });
    expect(clash.status).toBe(409);
    expect(clash.json()).toMatchObject({ error: 'memory_duplicate', details: { id: b.id } });

    expect((await s.call('DELETE', `/v1/ai/memory/${b.id}`)).status).toBe(204);
    expect((await s.call('DELETE', `/v1/ai/memory/${b.id}`)).status).toBe(404);
    expect((await s.call('PATCH', '/v1/ai/memory/999999', { content: 'x' })).status).toBe(404);
    const list = (await s.call('GET', '/v1/ai/memory')).json();
    expect(list.items.map((i: { content: string }) => i.content)).toEqual(['I prefer green tea']);
  });

  it('gives a chat all items while they are few, the most relevant when there are many', () => {
    const memory = s.inst.aiState().memory;
    expect(memory.relevant('anything').map((m) => m.content)).toEqual(['I prefer green tea']);
    for (let i = 0; i < 30; i++) memory.create(`Fact number ${i} about topic${i}`);
    memory.create('My bicycle is a blue Gazelle');
    const picked = memory.relevant('which bicycle do I ride?');
    expect(picked).toHaveLength(20);
    expect(picked[0]!.content).toBe('My bicycle is a blue Gazelle');
  });
});

describe('metering', () => {
  it('counts tokens per UTC month and says when the count starts again', () => {
    let now = Date.UTC(2026, 0, 31, 23, 59);
    const inst = fresh({ now: () => now });
    try {
      const usage = inst.aiState().usage;
      usage.record(100, 20);
      usage.record(5, 1);
      expect(usage.current()).toEqual({
        month: '2026-01',
        prompt_tokens: 105,
        completion_tokens: 21,
        total_tokens: 126,
        requests: 2,
      });
      expect(usage.budget(1000)).toEqual({ used: 126, budget: 1000, resets_at: '2026-02-01T00:00:00.000Z' });
      now = Date.UTC(2026, 1, 1, 0, 0, 1);
      expect(usage.current().total_tokens).toBe(0);
      usage.record(7, 0);
      expect(usage.history().map((m) => [m.month, m.total_tokens])).toEqual([
        ['2026-02', 7],
        ['2026-01', 126],
      ]);
    } finally {
      inst.close();
    }
  });
});

describe('prompts', () => {
  it('say whose assistant it is, what it remembers, which sources to cite, and what was summarized', () => {
    const messages = buildPrompt({
      memory: ['My sister is Ada'],
      sources: [{ n: 1, collection: 'notes', key: 'garden', text: 'Water the tomatoes.' }],
      summary: { text: 'They talked about plants.', messages: 12 },
      omittedMessages: 3,
      history: [
        { role: 'user', content: 'hello' },
        { role: 'assistant', content: 'hi' },
      ],
      message: 'what next?',
    });
    expect(messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    const system = messages[0]!.content;
    expect(system).toContain('private assistant');
    expect(system).toContain('- My sister is Ada');
    expect(system).toContain('[1] notes/garden\nWater the tomatoes.');
    expect(system).toMatch(/cite it by its number/);
    expect(system).toContain('(12 messages):\nThey talked about plants.');
    expect(system).toContain('3 earlier messages');
    expect(messages.at(-1)).toEqual({ role: 'user', content: 'what next?' });
    expect(systemPrompt({ memory: [], sources: [], summary: null, omittedMessages: 0 })).not.toMatch(
      /\[1\]|remember/,
    );
  });
});

describe('the process config', () => {
  const base = { dir: '/srv/i', hostKey: 'a'.repeat(64) };
  const ai = {
    url: 'http://127.0.0.1:9000',
    key: 'k',
    models: ['small'],
    embeddingModel: null,
    monthlyTokenBudget: 1000,
  };

  it('takes an AI connection, or none', () => {
    expect(parseProcessConfig(JSON.stringify(base)).ai).toBeNull();
    expect(parseProcessConfig(JSON.stringify({ ...base, ai: null })).ai).toBeNull();
    expect(parseProcessConfig(JSON.stringify({ ...base, ai })).ai).toEqual(ai);
    expect(
      parseProcessConfig(
        JSON.stringify({ ...base, ai: { ...ai, monthlyTokenBudget: null, embeddingModel: 'e' } }),
      ).ai,
    ).toMatchObject({ monthlyTokenBudget: null, embeddingModel: 'e' });
  });

  it('refuses a malformed one without repeating the key', () => {
    const bad = [
      { ...ai, url: 'ftp://x' },
      { ...ai, url: 'not a url' },
      { ...ai, key: '' },
      { ...ai, models: [] },
      { ...ai, models: ['a', 3] },
      { ...ai, monthlyTokenBudget: 0 },
      { ...ai, monthlyTokenBudget: 1.5 },
      { ...ai, embeddingModel: 7 },
      'yes',
    ];
    for (const b of bad) {
      const secret = {
        ...(typeof b === 'object' ? b : {}),
        key: typeof b === 'object' && b.key === '' ? '' : 'sekrit-key-123',
      };
      const cfg =
        typeof b === 'object'
          ? { ...base, ai: { ...b, ...(b.key === '' ? {} : { key: secret.key }) } }
          : { ...base, ai: b };
      expect(() => parseProcessConfig(JSON.stringify(cfg))).toThrow(/ai/);
      try {
        parseProcessConfig(JSON.stringify(cfg));
      } catch (err) {
        expect((err as Error).message).not.toContain('sekrit');
      }
    }
  });
});

describe('without an AI', () => {
  let s: ServedInstance;
  beforeAll(async () => {
    s = await serveInstance(root, keys, 'no-ai', null);
  });
  afterAll(() => s.close());

  it('says so plainly, stores nothing, and the rest of the instance works', async () => {
    const status = await s.call('GET', '/v1/ai/status');
    expect(status.status).toBe(200);
    expect(status.json()).toMatchObject({
      configured: false,
      available: false,
      message: expect.stringMatching(/self up/),
    });

    const id = await s.thread();
    const r = await s.call('POST', `/v1/ai/threads/${id}/messages`, { content: 'hello' });
    expect(r.status).toBe(503);
    expect(r.json()).toMatchObject({
      error: 'ai_unavailable',
      message: expect.stringMatching(/no AI is configured/),
    });
    expect((await s.call('GET', `/v1/ai/threads/${id}`)).json().messages).toEqual([]);

    const oa = await s.call('POST', '/v1/chat/completions', {
      model: 'x',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(oa.status).toBe(503);
    expect(oa.json()).toEqual({
      error: { message: expect.any(String), type: 'server_error', code: 'ai_unavailable', param: null },
    });

    const put = await s.call('PUT', '/v1/data/notes/n', 'still works', {
      ...PERSON,
      'content-type': 'text/plain',
    });
    expect(put.status).toBe(200);
    expect((await s.call('GET', '/v1/data/notes/n')).text).toBe('still works');
  });

  it('refuses apps and other people on the chat API, audited as denied', async () => {
    const denied = await s.call(
      'GET',
      '/v1/ai/threads',
      undefined,
      await appHeaders(s.inst, 'notes-app', 'ai:chat ai:memory'),
    );
    expect(denied.status).toBe(403);
    expect(denied.json()).toMatchObject({
      error: 'forbidden',
      details: { scope: 'ai:chat', namespace: 'ai' },
    });
    const other = await s.call('GET', '/v1/ai/memory', undefined, {
      'x-self-actor': 'person',
      'x-self-did': 'did:self:self1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq',
    });
    expect(other.status).toBe(403);
    expect((await s.call('GET', '/v1/ai/threads', undefined, {})).status).toBe(401);

    const entries = s.inst.auditEntries(1, 1000);
    expect(entries.filter((e) => e.outcome === 'denied').map((e) => [e.action, e.scope, e.app])).toEqual([
      ['ai.thread.list', 'ai:chat', testAppId('notes-app')],
      ['ai.memory.list', 'ai:memory', null],
    ]);
    const actions = entries.map((e) => `${e.action}:${e.outcome}`);
    expect(actions).toContain('ai.status:ok');
    expect(actions).toContain('ai.chat.ai_unavailable:error');
    expect(actions).toContain('ai.completions.ai_unavailable:error');
    expect(entries.map((e) => e.object).join('\n')).not.toContain('hello');
  });
});
