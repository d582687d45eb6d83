import { describe, expect, it, vi } from 'vitest';
import { SELFClient, type StoredSession } from '../src/index.js';
import { APP_ID, DID, FakeCloud, ISSUER } from './fake-cloud.js';
import { signedIn } from './helpers.js';

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

const instanceCalls = (cloud: FakeCloud) => cloud.calls.filter((c) => c.url.pathname.startsWith('/v1/i/'));

describe('storage', () => {
  it('saves, gets, lists and deletes JSON in the app namespace', async () => {
    const { cloud, session } = await signedIn();
    const saved = await session.storage.save({ key: 'a/b c', value: { n: 1, tags: ['x'] }, encrypted: true });
    expect(saved).toEqual({ key: 'a/b c', version: 1, etag: 'abc', size: 20 });
    const put = instanceCalls(cloud).at(-1);
    expect(put?.method).toBe('PUT');
    expect(put?.url.pathname).toBe(`/v1/i/${DID}/data/default/a%2Fb%20c`);
    expect(put?.headers.get('content-type')).toBe('application/json');
    expect(put?.headers.get('authorization')).toMatch(/^Bearer at_/);
    expect(await session.storage.get('a/b c')).toEqual({ n: 1, tags: ['x'] });
    expect(await session.storage.get('missing')).toBeNull();
    for (const k of ['n1', 'n2', 'n3']) await session.storage.save({ key: k, value: k });
    const page1 = await session.storage.list({ prefix: 'n', limit: 2 });
    expect(page1.items.map((i) => i.key)).toEqual(['n1', 'n2']);
    expect(page1.items[0]).toMatchObject({ version: 1, contentType: 'application/json', updatedAt: 1 });
    const page2 = await session.storage.list({ prefix: 'n', limit: 2, cursor: page1.cursor ?? '' });
    expect(page2).toMatchObject({ items: [{ key: 'n3' }], cursor: null });
    expect(await session.storage.delete('n1')).toBe(true);
    expect(await session.storage.delete('n1')).toBe(false);
    const bytes = await session.storage.getBytes('n2');
    expect(bytes).toMatchObject({ etag: 'abc', version: 1, contentType: 'application/json' });
    expect(new TextDecoder().decode(bytes?.bytes)).toBe('"n2"');
  });

  it("reaches the person's collections with target=person, and another app collection without", async () => {
    const { cloud, session } = await signedIn();
    await session.storage.collection('notes').save({ key: 'k', value: 'hi' });
    expect(instanceCalls(cloud).at(-1)?.url.search).toBe('?target=person');
    await session.storage.appCollection('drafts').save({ key: 'k', value: 'hi' });
    const last = instanceCalls(cloud).at(-1);
    expect(last?.url.pathname).toBe(`/v1/i/${DID}/data/drafts/k`);
    expect(last?.url.search).toBe('');
    expect(() => session.storage.collection('Bad Name')).toThrow(/collection name/);
  });

  it('refuses encrypted: false, and keys no URL can carry, before sending anything', async () => {
    const { cloud, session } = await signedIn();
    const before = cloud.calls.length;
    // @ts-expect-error: the type says encryption is always on
    await expect(session.storage.save({ key: 'k', value: 1, encrypted: false })).rejects.toThrow(
      /encrypts every value/,
    );
    await expect(session.storage.get('..')).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    await expect(session.storage.save({ key: '', value: 1 })).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    });
    expect(cloud.calls.length).toBe(before);
  });

  it('maps a full store, a missing scope and a rate limit', async () => {
    const { cloud, session } = await signedIn();
    cloud.scripted.push(
      json(507, { error: 'quota_exceeded', message: 'full', details: { used: 10, quota: 10, needed: 5 } }),
      json(403, {
        error: 'forbidden',
        message: 'no scope',
        details: { scope: 'storage:write', namespace: 'x' },
      }),
      json(
        429,
        { error: 'rate_limit_exceeded', message: 'slow', details: { limit_scope: 'app' } },
        { 'retry-after': '3' },
      ),
    );
    await expect(session.storage.save({ key: 'k', value: 'v' })).rejects.toMatchObject({
      code: 'QUOTA_EXCEEDED',
      status: 507,
      details: { used: 10, quota: 10, needed: 5 },
    });
    await expect(session.storage.save({ key: 'k', value: 'v' })).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
      details: { scope: 'storage:write' },
    });
    await expect(session.storage.list()).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfter: 3 });
  });

  it('reads text values as strings and refuses binary ones in get()', async () => {
    const { cloud, session } = await signedIn();
    cloud.objects.set('person/notes/t', {
      value: 'plain',
      contentType: 'text/plain; charset=utf-8',
      version: 1,
    });
    cloud.objects.set('person/notes/b', {
      value: '\u0001',
      contentType: 'application/octet-stream',
      version: 1,
    });
    expect(await session.storage.collection('notes').get('t')).toBe('plain');
    await expect(session.storage.collection('notes').get('b')).rejects.toThrow(/getBytes/);
  });
});

describe('AI', () => {
  it("chats with the tier's default model, context and history as messages", async () => {
    const { cloud, session } = await signedIn();
    const r = await session.ai.chat({
      message: 'Plan my day',
      context: 'productivity',
      maxTokens: 50,
      history: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello' },
      ],
    });
    expect(r).toEqual({
      content: 'Hello!',
      model: 'tiny',
      usage: { promptTokens: 5, completionTokens: 2, totalTokens: 7 },
    });
    const post = instanceCalls(cloud).at(-1);
    expect(post?.url.pathname).toBe(`/v1/i/${DID}/chat/completions`);
    expect(JSON.parse(post?.body ?? '')).toEqual({
      model: 'tiny',
      max_tokens: 50,
      messages: [
        { role: 'system', content: "The app's context for this conversation: productivity" },
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'hello' },
        { role: 'user', content: 'Plan my day' },
      ],
    });
    await session.ai.chat({ message: 'again' });
    expect(instanceCalls(cloud).filter((c) => c.url.pathname.endsWith('/models')).length).toBe(1);
    await session.ai.chat({ message: 'x', model: 'other' });
    expect(JSON.parse(instanceCalls(cloud).at(-1)?.body ?? '').model).toBe('other');
  });

  it('streams deltas and returns the whole reply with its usage', async () => {
    const { cloud, session } = await signedIn();
    const chunk = (content: string | null, usage?: unknown) =>
      `data: ${JSON.stringify({ model: 'tiny', choices: content === null ? [] : [{ delta: { content } }], ...(usage ? { usage } : {}) })}\n\n`;
    cloud.streamBody =
      chunk('Hel') +
      ': keep-alive\n\n' +
      chunk('lo') +
      chunk(null, { prompt_tokens: 3, completion_tokens: 2 }) +
      'data: [DONE]\n\n';
    const stream = session.ai.chatStream({ message: 'hi' });
    const deltas: string[] = [];
    let r = await stream.next();
    while (r.done !== true) {
      deltas.push(r.value);
      r = await stream.next();
    }
    expect(deltas).toEqual(['Hel', 'lo']);
    expect(r.value).toEqual({
      content: 'Hello',
      model: 'tiny',
      usage: { promptTokens: 3, completionTokens: 2, totalTokens: 5 },
    });
    const req = instanceCalls(cloud).at(-1);
    expect(req?.headers.get('accept')).toBe('text/event-stream');
    expect(JSON.parse(req?.body ?? '')).toMatchObject({
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('a failure event mid-stream and a cut-off stream are errors; a refusal before it too', async () => {
    const { cloud, session } = await signedIn();
    cloud.streamBody =
      `data: ${JSON.stringify({ choices: [{ delta: { content: 'a' } }] })}\n\n` +
      `data: ${JSON.stringify({ error: { message: 'model died', type: 'server_error', code: 'inference_failed', param: null } })}\n\n`;
    const got: string[] = [];
    await expect(
      (async () => {
        for await (const d of session.ai.chatStream({ message: 'hi', model: 'm' })) got.push(d);
      })(),
    ).rejects.toMatchObject({ code: 'AI_UNAVAILABLE', reason: 'inference_failed', message: 'model died' });
    expect(got).toEqual(['a']);
    cloud.streamBody = `data: ${JSON.stringify({ choices: [{ delta: { content: 'a' } }] })}\n\n`;
    await expect(
      (async () => {
        for await (const _ of session.ai.chatStream({ message: 'hi', model: 'm' }));
      })(),
    ).rejects.toMatchObject({ reason: 'stream_truncated' });
    cloud.scripted.push(
      json(429, {
        error: { message: 'spent', type: 'insufficient_quota', code: 'insufficient_quota', param: null },
      }),
    );
    await expect(session.ai.chatStream({ message: 'hi', model: 'm' }).next()).rejects.toMatchObject({
      code: 'QUOTA_EXCEEDED',
    });
    cloud.scripted.push(
      json(503, {
        error: { message: 'no model', type: 'server_error', code: 'ai_unavailable', param: null },
      }),
    );
    await expect(session.ai.chat({ message: 'hi', model: 'm' })).rejects.toMatchObject({
      code: 'AI_UNAVAILABLE',
    });
  });

  it('an aborted stream rejects with the abort reason', async () => {
    const { cloud, session } = await signedIn();
    cloud.streamBody = 'data: {}\n\n';
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await expect(
      session.ai.chatStream({ message: 'hi', model: 'm', signal: ac.signal }).next(),
    ).rejects.toThrow('stop');
  });
});

describe('tokens', () => {
  it('refreshes before expiry, rotating and storing the new refresh token', async () => {
    const { cloud, store } = await signedIn();
    const first = (await store.load()) as StoredSession;
    await store.save({ ...first, accessTokenExpiresAt: Date.now() + 1000 }); // inside the margin
    const s2 = await new SELFClient({
      appId: APP_ID,
      environment: { baseUrl: ISSUER },
      fetch: cloud.fetch,
      tokenStore: store,
    }).restoreSession();
    await s2?.storage.list();
    const after = (await store.load()) as StoredSession;
    expect(after.refreshToken).not.toBe(first.refreshToken);
    expect(after.accessToken).not.toBe(first.accessToken);
    expect(cloud.refresh.get(first.refreshToken)?.rotated).toBe(true);
  });

  it('concurrent calls share one refresh, across session objects on one store too', async () => {
    const { cloud, client, store } = await signedIn();
    const stored = (await store.load()) as StoredSession;
    await store.save({ ...stored, accessTokenExpiresAt: 0 });
    const a = await client.restoreSession();
    const b = await client.restoreSession();
    const before = cloud.tokenCalls;
    let release = () => {};
    cloud.tokenGate = new Promise<void>((r) => (release = r));
    const calls = [a, b, a, b, a].map((s) => s?.storage.list());
    await vi.waitFor(() => expect(cloud.tokenCalls).toBeGreaterThan(before));
    release();
    await Promise.all(calls);
    expect(cloud.tokenCalls - before).toBe(1);
    // No rotated refresh token was ever presented again (that would end the session).
    expect(cloud.revokedFamilies.size).toBe(0);
  });

  it('a 401 refreshes once and retries once', async () => {
    const { cloud, session } = await signedIn();
    for (const t of cloud.access.values()) t.expired = true;
    const before = cloud.tokenCalls;
    await session.storage.save({ key: 'k', value: 1 });
    expect(cloud.tokenCalls - before).toBe(1);
    const puts = instanceCalls(cloud).filter((c) => c.method === 'PUT');
    expect(puts.length).toBe(2);
    expect(puts[0]?.headers.get('authorization')).not.toBe(puts[1]?.headers.get('authorization'));
    // A 401 that survives the refresh is the caller's UNAUTHENTICATED, with no loop.
    cloud.scripted.push(json(401, { error: 'invalid_token', message: 'x', details: {} }));
    cloud.scripted.push(json(401, { error: 'invalid_token', message: 'x', details: {} }));
    await expect(session.storage.list()).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      reason: 'invalid_token',
    });
    expect(cloud.tokenCalls - before).toBe(2);
  });

  it('a dead refresh token is UNAUTHENTICATED and clears the store', async () => {
    const { cloud, session, store } = await signedIn();
    cloud.grantRevoked = true; // the person revoked the app
    await expect(session.profile()).rejects.toMatchObject({
      code: 'UNAUTHENTICATED',
      reason: 'invalid_grant',
    });
    expect(await store.load()).toBeNull();
  });
});

describe('profile, grant and revoke', () => {
  it('reads the profile and the grant', async () => {
    const { session } = await signedIn();
    expect(await session.profile()).toEqual({ did: DID, name: 'Ada', raw: { did: DID, name: 'Ada' } });
    expect(await session.grant()).toMatchObject({
      id: 'gr_AAAAAAAAAAAAAAAAAAAAAA',
      appId: APP_ID,
      state: 'active',
      expiresAt: 99,
    });
  });

  it('revoke: the grant at the instance, then the refresh token at the cloud, then the store', async () => {
    const { cloud, session, store } = await signedIn();
    const rt = ((await store.load()) as StoredSession).refreshToken;
    const from = cloud.calls.length;
    await session.revoke();
    const steps = cloud.calls.slice(from).map((c) => `${c.method} ${c.url.pathname}`);
    expect(steps).toEqual([`DELETE /v1/i/${DID}/grant`, 'POST /oauth/revoke']);
    const form = new URLSearchParams(cloud.calls.at(-1)?.body);
    expect(form.get('token')).toBe(rt);
    expect(form.get('token_type_hint')).toBe('refresh_token');
    expect(form.get('client_id')).toBe(APP_ID);
    expect(await store.load()).toBeNull();
    await expect(session.storage.list()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    // Revoking again (the grant already gone) is not an error.
    await session.revoke();
  });

  it('revoke clears the store even when a step fails, and reports the failure', async () => {
    const { cloud, session, store } = await signedIn();
    cloud.scripted.push(json(503, { error: 'unavailable', message: 'down', details: {} }));
    await expect(session.revoke()).rejects.toMatchObject({ code: 'SERVER_ERROR', reason: 'unavailable' });
    expect(cloud.calls.at(-1)?.url.pathname).toBe('/oauth/revoke'); // the cloud step still ran
    expect(await store.load()).toBeNull();
  });
});
