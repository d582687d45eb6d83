import type { FetchLike } from '../src/index.js';

/**
 * A SELF cloud in memory, as a fetch: the OAuth metadata, token and revocation endpoints (codes
 * single use, refresh tokens rotated with reuse detection), the developer routes, and one person's
 * instance behind `/v1/i/<did>/…` (data, the OpenAI-compatible chat, profile, grant). Shapes follow
 * /work/notes/issue6-spec.md and docs/instance-api.md. Tests poke at its fields to script failures.
 */
export const ISSUER = 'http://cloud.test';
export const APP_ID = 'app_0123456789abcdef0123456789abcdef';
export const DID = 'did:self:self1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq';
export const REDIRECT = 'http://127.0.0.1:3000/callback';

export interface Call {
  method: string;
  url: URL;
  headers: Headers;
  body: string;
}

interface Obj {
  value: string;
  contentType: string;
  version: number;
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Response =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });

export class FakeCloud {
  calls: Call[] = [];
  /** Metadata overrides (for issuer-mismatch tests). */
  metadata: Record<string, unknown> = {};
  /** Pending authorization requests: request id → {redirect_uri, state, challenge}. */
  requests = new Map<string, { redirectUri: string; state: string; scope: string }>();
  codes = new Map<string, { used: boolean; redirectUri: string; scope: string }>();
  /** Live refresh tokens → family; rotated ones remember their family for reuse detection. */
  refresh = new Map<string, { family: number; rotated: boolean }>();
  revokedFamilies = new Set<number>();
  access = new Map<string, { family: number; expired: boolean }>();
  tokenCalls = 0;
  grantRevoked = false;
  objects = new Map<string, Obj>();
  /** The next instance answers, consumed first (scripted failures). */
  scripted: Response[] = [];
  /** The SSE body chat streams answer. */
  streamBody = '';
  /** Holds token responses until released (for single-flight tests). */
  tokenGate: Promise<void> | null = null;
  private n = 0;

  readonly fetch: FetchLike = async (input, init) => {
    const url = new URL(input);
    const headers = new Headers(init.headers);
    const body = typeof init.body === 'string' ? init.body : '';
    const method = init.method ?? 'GET';
    this.calls.push({ method, url, headers, body });
    if (init.signal?.aborted === true) throw init.signal.reason;
    return this.route(method, url, headers, body, init);
  };

  private id(prefix: string): string {
    return `${prefix}${++this.n}`;
  }

  /** A session's tokens, as a code exchange would mint them. */
  mint(scope = 'storage:read storage:write ai:chat profile:read'): Record<string, unknown> {
    const family = ++this.n;
    const at = this.id('at_');
    const rt = this.id('self_rt_');
    this.access.set(at, { family, expired: false });
    this.refresh.set(rt, { family, rotated: false });
    return {
      access_token: at,
      token_type: 'Bearer',
      expires_in: 900,
      refresh_token: rt,
      scope,
      did: DID,
      instance_url: `${ISSUER}/v1/i/${DID}`,
      grant_id: 'gr_AAAAAAAAAAAAAAAAAAAAAA',
    };
  }

  private async route(
    method: string,
    url: URL,
    headers: Headers,
    body: string,
    init: RequestInit,
  ): Promise<Response> {
    const path = url.pathname;
    if (path === '/.well-known/oauth-authorization-server') {
      return json(200, {
        issuer: ISSUER,
        authorization_endpoint: `${ISSUER}/oauth/authorize`,
        token_endpoint: `${ISSUER}/oauth/token`,
        revocation_endpoint: `${ISSUER}/oauth/revoke`,
        response_types_supported: ['code'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
        authorization_response_iss_parameter_supported: true,
        ...this.metadata,
      });
    }
    if (path === '/oauth/authorize' && method === 'GET') {
      const q = url.searchParams;
      if (init.redirect === 'manual' && q.get('scope')?.includes('bogus')) {
        const to = new URL(q.get('redirect_uri') ?? '');
        to.searchParams.set('error', 'invalid_scope');
        to.searchParams.set('state', q.get('state') ?? '');
        to.searchParams.set('iss', ISSUER);
        return new Response(null, { status: 302, headers: { location: to.href } });
      }
      const id = this.id('req_');
      this.requests.set(id, {
        redirectUri: q.get('redirect_uri') ?? '',
        state: q.get('state') ?? '',
        scope: q.get('scope') ?? '',
      });
      return json(200, {
        request_id: id,
        user_code: 'ABCD-EFGH',
        poll: 'p',
        expires_at: 0,
        app: {},
        scopes: [],
      });
    }
    if (path === '/oauth/token' && method === 'POST') return this.token(body);
    if (path === '/oauth/revoke' && method === 'POST') {
      const token = new URLSearchParams(body).get('token') ?? '';
      const r = this.refresh.get(token);
      if (r !== undefined) this.revokedFamilies.add(r.family);
      return new Response(null, { status: 200 });
    }
    if (path.startsWith('/v1/developers/')) return this.developer(method, path, headers, body);
    const prefix = `/v1/i/${DID}`;
    if (path.startsWith(prefix)) return this.instance(method, path.slice(prefix.length), url, headers, body);
    return json(404, { error: 'not_found', message: 'no route', details: {} });
  }

  private async token(body: string): Promise<Response> {
    this.tokenCalls++;
    if (this.tokenGate !== null) await this.tokenGate;
    const f = new URLSearchParams(body);
    const err = (error: string) =>
      json(400, { error, error_description: error, message: error, details: {} });
    if (f.get('grant_type') === 'authorization_code') {
      const c = this.codes.get(f.get('code') ?? '');
      if (c === undefined || c.used || c.redirectUri !== f.get('redirect_uri') || !f.get('code_verifier')) {
        return err('invalid_grant');
      }
      c.used = true;
      return json(200, this.mint(c.scope), { 'cache-control': 'no-store' });
    }
    if (f.get('grant_type') === 'refresh_token') {
      const r = this.refresh.get(f.get('refresh_token') ?? '');
      if (r === undefined || this.revokedFamilies.has(r.family) || this.grantRevoked)
        return err('invalid_grant');
      if (r.rotated) {
        this.revokedFamilies.add(r.family);
        return err('invalid_grant');
      }
      r.rotated = true;
      const at = this.id('at_');
      const rt = this.id('self_rt_');
      this.access.set(at, { family: r.family, expired: false });
      this.refresh.set(rt, { family: r.family, rotated: false });
      return json(200, {
        access_token: at,
        token_type: 'Bearer',
        expires_in: 900,
        refresh_token: rt,
        scope: 'storage:read storage:write ai:chat profile:read',
      });
    }
    return err('unsupported_grant_type');
  }

  /** Issues a code for a pending request, as approval would; answers the redirect. */
  approve(requestId: string): string {
    const r = this.requests.get(requestId);
    if (r === undefined) throw new Error(`no request ${requestId}`);
    const code = this.id('self_ac_');
    this.codes.set(code, { used: false, redirectUri: r.redirectUri, scope: r.scope });
    const to = new URL(r.redirectUri);
    to.searchParams.set('code', code);
    to.searchParams.set('state', r.state);
    to.searchParams.set('iss', ISSUER);
    return to.href;
  }

  private developer(method: string, path: string, headers: Headers, body: string): Response {
    if (headers.get('authorization') !== 'Bearer self_dk_test') {
      return json(401, { error: 'unauthenticated', message: 'bad key', details: {} });
    }
    if (method === 'POST' && path === '/v1/developers/test-users') {
      const { tier } = JSON.parse(body) as { tier: string };
      return json(201, { did: DID, tier, test: true, session: { token: 'sess_1', expires_at: 1234 } });
    }
    if (method === 'GET' && path === '/v1/developers/apps') {
      return json(200, {
        apps: [
          {
            app_id: APP_ID,
            name: 'Notes',
            client_type: 'public',
            redirect_uris: [REDIRECT],
            scopes: ['ai:chat'],
          },
        ],
      });
    }
    const m = /^\/v1\/developers\/test-users\/([^/]+)\/consent$/.exec(path);
    if (method === 'POST' && m !== null && decodeURIComponent(m[1] ?? '') === DID) {
      const { request, approve } = JSON.parse(body) as { request: string; approve: boolean };
      if (approve) return json(200, { redirect_to: this.approve(request), grant: {} });
      const r = this.requests.get(request);
      const to = new URL(r?.redirectUri ?? REDIRECT);
      to.searchParams.set('error', 'access_denied');
      to.searchParams.set('state', r?.state ?? '');
      to.searchParams.set('iss', ISSUER);
      return json(200, { redirect_to: to.href });
    }
    return json(404, { error: 'not_found', message: 'no route', details: {} });
  }

  private instance(method: string, rest: string, url: URL, headers: Headers, body: string): Response {
    const bearer = (headers.get('authorization') ?? '').replace(/^Bearer /, '');
    const at = this.access.get(bearer);
    if (at === undefined || at.expired || this.revokedFamilies.has(at.family) || this.grantRevoked) {
      return json(401, { error: 'invalid_token', message: 'bad token', details: { reason: 'bad_token' } });
    }
    const next = this.scripted.shift();
    if (next !== undefined) return next;
    if (rest === '/grant' && method === 'DELETE') {
      this.grantRevoked = true;
      return json(200, { grant: { id: 'gr_AAAAAAAAAAAAAAAAAAAAAA', state: 'revoked' } });
    }
    if (rest === '/grant' && method === 'GET') {
      return json(200, {
        grant: {
          id: 'gr_AAAAAAAAAAAAAAAAAAAAAA',
          app_id: APP_ID,
          scopes: ['ai:chat'],
          state: 'active',
          expires_at: 99,
        },
      });
    }
    if (rest === '/profile') return json(200, { did: DID, name: 'Ada' });
    if (rest === '/models')
      return json(200, { object: 'list', data: [{ id: 'tiny', object: 'model' }, { id: 'emb' }] });
    if (rest === '/chat/completions' && method === 'POST') {
      const req = JSON.parse(body) as { stream?: boolean; model: string };
      if (req.stream === true) {
        return new Response(this.streamBody, {
          status: 200,
          headers: { 'content-type': 'text/event-stream' },
        });
      }
      return json(200, {
        id: 'c1',
        object: 'chat.completion',
        model: req.model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 },
      });
    }
    const m = /^\/data\/([^/]+)(?:\/([^/]+))?$/.exec(rest);
    if (m !== null) {
      const ns = url.searchParams.get('target') === 'person' ? 'person' : 'app';
      const collection = m[1] ?? '';
      const key = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
      const id = `${ns}/${collection}/${key ?? ''}`;
      if (key === undefined && method === 'GET') {
        const prefix = `${ns}/${collection}/${url.searchParams.get('prefix') ?? ''}`;
        const items = [...this.objects.entries()]
          .filter(([k]) => k.startsWith(prefix))
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([k, o]) => ({
            key: k.slice(`${ns}/${collection}/`.length),
            size: o.value.length,
            etag: 'e',
            version: o.version,
            updated_at: 1,
            content_type: o.contentType,
          }));
        const limit = Number(url.searchParams.get('limit') ?? 100);
        const start = Number(url.searchParams.get('cursor') ?? 0);
        const page = items.slice(start, start + limit);
        return json(200, {
          items: page,
          cursor: start + limit < items.length ? String(start + limit) : null,
        });
      }
      if (key !== undefined && method === 'PUT') {
        const prev = this.objects.get(id);
        const o = {
          value: body,
          contentType: headers.get('content-type') ?? '',
          version: (prev?.version ?? 0) + 1,
        };
        this.objects.set(id, o);
        return json(200, { version: o.version, etag: 'abc', size: body.length });
      }
      if (key !== undefined && method === 'GET') {
        const o = this.objects.get(id);
        if (o === undefined) return json(404, { error: 'not_found', message: 'no such object', details: {} });
        return new Response(o.value, {
          status: 200,
          headers: { 'content-type': o.contentType, etag: '"abc"', 'x-self-version': String(o.version) },
        });
      }
      if (key !== undefined && method === 'DELETE') {
        if (!this.objects.delete(id))
          return json(404, { error: 'not_found', message: 'no such object', details: {} });
        return new Response(null, { status: 204 });
      }
    }
    return json(404, { error: 'not_found', message: 'no route', details: {} });
  }
}
