import { describe, expect, it } from 'vitest';
import {
  SELFError,
  SSEParser,
  codeChallengeS256,
  createCodeVerifier,
  createState,
  localStorageTokenStore,
  memoryTokenStore,
  readServerSentEvents,
  type ServerSentEvent,
  type StorageLike,
  type StoredSession,
} from '../src/index.js';
import { base64url } from '../src/base64url.js';
import { codeFor, errorFromResponse, parseRetryAfter } from '../src/errors.js';
import { metadataUrl } from '../src/discovery.js';
import { normalizeBaseUrl } from '../src/environment.js';

describe('PKCE', () => {
  it('matches RFC 7636 Appendix B', async () => {
    // The appendix's 32 random octets, their base64url verifier and its S256 challenge.
    const octets = new Uint8Array([
      116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77, 105, 214,
      191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
    ]);
    const verifier = base64url(octets);
    expect(verifier).toBe('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk');
    expect(await codeChallengeS256(verifier)).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });

  it('makes 43-character verifiers and 22-character states, different each time', () => {
    const a = createCodeVerifier();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(createCodeVerifier()).not.toBe(a);
    expect(createState()).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('refuses a verifier outside RFC 7636 §4.1', async () => {
    await expect(codeChallengeS256('short')).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    await expect(codeChallengeS256(`${'a'.repeat(42)}!`)).rejects.toBeInstanceOf(SELFError);
    await expect(codeChallengeS256('a'.repeat(129))).rejects.toBeInstanceOf(SELFError);
  });
});

describe('SSE framing', () => {
  const stream =
    '\ufeff: comment\r\nevent: delta\r\ndata: {"a":1}\r\n\r\n' +
    'data: line one\ndata: line two\nid: 7\nretry: 1000\n\n' +
    'data:no-space\r\rdata\n\nfield-without-meaning: x\ndata: last\n\n' +
    'data: never dispatched';
  const expected: ServerSentEvent[] = [
    { event: 'delta', data: '{"a":1}' },
    { event: 'message', data: 'line one\nline two', id: '7', retry: 1000 },
    { event: 'message', data: 'no-space', id: '7' },
    { event: 'message', data: '', id: '7' },
    { event: 'message', data: 'last', id: '7' },
  ];

  it('parses fields, comments, multi-line data, CRLF/CR/LF and a BOM; drops an unterminated event', () => {
    const p = new SSEParser();
    expect([...p.feed(stream), ...p.end()]).toEqual(expected);
  });

  it('gives the same events however the text is split', () => {
    for (let i = 0; i <= stream.length; i++) {
      const p = new SSEParser();
      const got = [...p.feed(stream.slice(0, i)), ...p.feed(stream.slice(i)), ...p.end()];
      expect(got, `split at ${i}`).toEqual(expected);
    }
    // One character at a time, the CR-then-LF boundary included.
    const p = new SSEParser();
    const got: ServerSentEvent[] = [];
    for (const ch of stream) got.push(...p.feed(ch));
    expect([...got, ...p.end()]).toEqual(expected);
  });

  it('reads events from a byte stream, UTF-8 split across chunks included', async () => {
    const bytes = new TextEncoder().encode('data: héllo ✓\n\ndata: [DONE]\n\n');
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const b of bytes) c.enqueue(new Uint8Array([b]));
        c.close();
      },
    });
    const events: string[] = [];
    for await (const e of readServerSentEvents(body)) events.push(e.data);
    expect(events).toEqual(['héllo ✓', '[DONE]']);
  });

  it('cancels the body when the reader stops early', async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(new TextEncoder().encode('data: x\n\n'));
      },
      cancel() {
        cancelled = true;
      },
    });
    for await (const e of readServerSentEvents(body)) {
      expect(e.data).toBe('x');
      break;
    }
    expect(cancelled).toBe(true);
  });
});

describe('errors', () => {
  it('maps statuses and server codes to the SDK codes', () => {
    expect(codeFor(403, 'forbidden')).toBe('PERMISSION_DENIED');
    expect(codeFor(403, 'not_on_production')).toBe('PERMISSION_DENIED');
    expect(codeFor(429, 'rate_limit_exceeded')).toBe('RATE_LIMITED');
    expect(codeFor(429, 'insufficient_quota')).toBe('QUOTA_EXCEEDED');
    expect(codeFor(429, 'ai_budget_exhausted')).toBe('QUOTA_EXCEEDED');
    expect(codeFor(507, 'quota_exceeded')).toBe('QUOTA_EXCEEDED');
    expect(codeFor(404, 'not_found')).toBe('NOT_FOUND');
    expect(codeFor(404, 'model_not_found')).toBe('NOT_FOUND');
    expect(codeFor(401, 'invalid_token')).toBe('UNAUTHENTICATED');
    expect(codeFor(400, 'invalid_grant')).toBe('UNAUTHENTICATED');
    expect(codeFor(401, 'invalid_client')).toBe('UNAUTHENTICATED');
    expect(codeFor(400, 'invalid_scope')).toBe('INVALID_REQUEST');
    expect(codeFor(412, 'conflict')).toBe('INVALID_REQUEST');
    expect(codeFor(413, 'too_large')).toBe('INVALID_REQUEST');
    expect(codeFor(503, 'ai_unavailable')).toBe('AI_UNAVAILABLE');
    expect(codeFor(503, 'busy')).toBe('AI_UNAVAILABLE');
    expect(codeFor(502, 'inference_failed')).toBe('AI_UNAVAILABLE');
    expect(codeFor(503, 'unavailable')).toBe('SERVER_ERROR');
    expect(codeFor(423, 'locked')).toBe('SERVER_ERROR');
    expect(codeFor(500, undefined)).toBe('SERVER_ERROR');
    expect(codeFor(400, 'access_denied')).toBe('PERMISSION_DENIED');
    expect(codeFor(403, 'insufficient_scope')).toBe('PERMISSION_DENIED');
    expect(codeFor(400, 'temporarily_unavailable')).toBe('SERVER_ERROR');
    expect(codeFor(400, 'server_error')).toBe('SERVER_ERROR');
  });

  it('reads the cloud, OAuth and OpenAI error shapes with Retry-After and the request id', async () => {
    const cloud = await errorFromResponse(
      new Response(
        JSON.stringify({
          error: 'rate_limit_exceeded',
          message: 'slow down',
          details: { limit_scope: 'app' },
        }),
        { status: 429, headers: { 'retry-after': '7', 'x-request-id': 'req-1' } },
      ),
    );
    expect(cloud).toMatchObject({
      code: 'RATE_LIMITED',
      status: 429,
      reason: 'rate_limit_exceeded',
      message: 'slow down',
      retryAfter: 7,
      details: { limit_scope: 'app' },
      requestId: 'req-1',
    });
    const oauth = await errorFromResponse(
      new Response(JSON.stringify({ error: 'invalid_grant', error_description: 'code already used' }), {
        status: 400,
      }),
    );
    expect(oauth).toMatchObject({
      code: 'UNAUTHENTICATED',
      reason: 'invalid_grant',
      message: 'code already used',
    });
    const openai = await errorFromResponse(
      new Response(
        JSON.stringify({
          error: {
            message: 'budget spent',
            type: 'insufficient_quota',
            code: 'insufficient_quota',
            param: null,
          },
        }),
        { status: 429 },
      ),
    );
    expect(openai).toMatchObject({
      code: 'QUOTA_EXCEEDED',
      reason: 'insufficient_quota',
      message: 'budget spent',
    });
    const html = await errorFromResponse(new Response('<h1>bad gateway</h1>', { status: 502 }));
    expect(html).toMatchObject({ code: 'SERVER_ERROR', status: 502, reason: undefined, message: 'HTTP 502' });
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('120')).toBe(120);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(parseRetryAfter('Tue, 01 Jan 2030 00:00:30 GMT', now)).toBe(30);
    expect(parseRetryAfter('Mon, 31 Dec 2029 00:00:00 GMT', now)).toBe(0);
  });
});

describe('URLs', () => {
  it('normalizes base URLs and places the well-known path before an issuer path (RFC 8414 §3.1)', () => {
    expect(normalizeBaseUrl('http://127.0.0.1:8080/')).toBe('http://127.0.0.1:8080');
    expect(normalizeBaseUrl('https://self.example/tenant/')).toBe('https://self.example/tenant');
    expect(() => normalizeBaseUrl('ftp://x')).toThrow(SELFError);
    expect(() => normalizeBaseUrl('https://x/?q=1')).toThrow(SELFError);
    expect(metadataUrl('http://127.0.0.1:8080')).toBe(
      'http://127.0.0.1:8080/.well-known/oauth-authorization-server',
    );
    expect(metadataUrl('https://self.example/tenant')).toBe(
      'https://self.example/.well-known/oauth-authorization-server/tenant',
    );
  });
});

describe('token stores', () => {
  const session: StoredSession = {
    version: 1,
    issuer: 'http://cloud.test',
    clientId: 'app_x',
    did: 'did:self:x',
    instanceUrl: 'http://cloud.test/v1/i/did:self:x',
    grantId: 'gr_x',
    scopes: ['ai:chat'],
    accessToken: 'at',
    accessTokenExpiresAt: 1,
    refreshToken: 'rt',
  };

  it('keeps a session in memory', async () => {
    const s = memoryTokenStore();
    expect(await s.load()).toBeNull();
    await s.save(session);
    expect(await s.load()).toEqual(session);
    await s.clear();
    expect(await s.load()).toBeNull();
  });

  it('keeps a session in Web Storage under its key, and reads anything malformed as none', async () => {
    const items = new Map<string, string>();
    const storage: StorageLike = {
      getItem: (k) => items.get(k) ?? null,
      setItem: (k, v) => void items.set(k, v),
      removeItem: (k) => void items.delete(k),
    };
    const s = localStorageTokenStore({ storage, key: 'k' });
    await s.save(session);
    expect(JSON.parse(items.get('k') ?? '')).toEqual(session);
    expect(await s.load()).toEqual(session);
    items.set('k', '{not json');
    expect(await s.load()).toBeNull();
    items.set('k', JSON.stringify({ ...session, refreshToken: 5 }));
    expect(await s.load()).toBeNull();
    await s.clear();
    expect(items.has('k')).toBe(false);
    if (!('localStorage' in globalThis)) expect(() => localStorageTokenStore().load()).toThrow(SELFError);
  });
});
