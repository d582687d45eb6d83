import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceIdentity } from '@self/crypto';
import { startTestChain, type TestChain } from './support/chain.js';
import { call, startTestCloud, type TestCloud } from './support/cloud.js';
import { didCreate, people } from './support/people.js';

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * A request with the path exactly as given (fetch would normalise `..` away), optionally with a
 * chunked body of `chunks` × `chunkBytes` and no Content-Length.
 */
function raw(
  base: string,
  method: string,
  path: string,
  opts: {
    token?: string;
    body?: Buffer;
    untyped?: boolean;
    chunked?: { chunks: number; chunkBytes: number };
    headers?: Record<string, string>;
  } = {},
): Promise<RawResponse> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: {
          ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
          ...(opts.body ? { 'content-length': String(opts.body.length) } : {}),
          ...(opts.body && !opts.untyped ? { 'content-type': 'application/octet-stream' } : {}),
          ...(opts.chunked
            ? { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' }
            : {}),
          ...opts.headers,
        },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(parts).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    // The server may answer and close before the whole body is sent (413): that is fine here.
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
    });
    if (opts.body) req.end(opts.body);
    else if (opts.chunked) {
      const chunk = Buffer.alloc(opts.chunked.chunkBytes, 0x61);
      const { chunks } = opts.chunked;
      let sent = 0;
      const pump = (): void => {
        while (sent < chunks) {
          sent++;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    } else req.end();
  });
}

const MiB = 1024 * 1024;

/**
 * Forwarding to instances: a session reaches its own instance only, path tricks are refused or
 * stay inside the person's own instance, bodies are limited by tier, and the rate limiter counts
 * per person and per IP address.
 */
describe('forwarding to instances', () => {
  let chain: TestChain;
  let gw: TestCloud;
  let alice: DeviceIdentity;
  let bob: DeviceIdentity;
  let carol: DeviceIdentity;
  let dave: DeviceIdentity;
  let erin: DeviceIdentity;
  const tokens = new Map<string, string>();

  beforeAll(async () => {
    [alice, bob, carol, dave, erin] = people('alice', 'bob', 'carol', 'dave', 'erin');
    chain = await startTestChain('self-cloud-forward');
    gw = await startTestCloud(chain);
    for (const p of [alice, bob]) {
      const res = await call(gw.url, 'POST', '/v1/signup', {
        json: { tier: 'free', transaction: didCreate(p, { chainId: chain.chainId }) },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      tokens.set(p.did, (res.body.session as { token: string }).token);
    }
  }, 60_000);

  afterAll(async () => {
    await gw?.close();
    await chain?.stop();
  });

  const tokenOf = (p: DeviceIdentity): string => tokens.get(p.did)!;

  it('refuses another DID’s instance with 403 and forwards nothing to it', async () => {
    const put = await call(gw.url, 'PUT', `/v1/i/${bob.did}/data/notes/secret`, {
      token: tokenOf(bob),
      body: 'bob only',
    });
    expect(put.status).toBe(200);
    // Every request forwarded to an instance moves its lastActiveAt.
    const before = (await gw.provisioner.status(bob.did)).lastActiveAt;
    expect(before).not.toBeNull();

    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await call(gw.url, method, `/v1/i/${bob.did}/data/notes/secret`, {
        token: tokenOf(alice),
        ...(method === 'PUT' ? { body: 'overwritten by alice' } : {}),
      });
      expect(res.status, method).toBe(403);
      expect(res.body.error).toBe('forbidden');
      expect(JSON.stringify(res.body)).not.toContain('bob only');
    }
    // The DID percent-encoded is still bob's.
    const encoded = await raw(gw.url, 'GET', `/v1/i/${encodeURIComponent(bob.did)}/data/notes/secret`, {
      token: tokenOf(alice),
    });
    expect(encoded.status).toBe(403);
    // A DID that does not exist answers the same: no probing for accounts.
    const nobody = await call(gw.url, 'GET', `/v1/i/did:self:nobody/data/notes/secret`, {
      token: tokenOf(alice),
    });
    expect(nobody.status).toBe(403);
    expect((await gw.provisioner.status(bob.did)).lastActiveAt).toBe(before);

    const got = await fetch(`${gw.url}/v1/i/${bob.did}/data/notes/secret`, {
      headers: { authorization: `Bearer ${tokenOf(bob)}` },
    });
    expect(await got.text()).toBe('bob only');
    expect((await call(gw.url, 'GET', `/v1/i/${bob.did}/collections`)).status).toBe(401);
  });

  it('sets the acting identity itself: client x-self-* headers never reach the instance', async () => {
    const res = await call(gw.url, 'PUT', `/v1/i/${alice.did}/data/notes/who`, {
      token: tokenOf(alice),
      body: 'me',
      headers: {
        'x-self-did': bob.did,
        'x-self-actor': 'app',
        'x-self-app': 'evil',
        'x-self-scopes': 'storage:notes:write',
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const audit = await call(gw.url, 'GET', `/v1/i/${alice.did}/audit?limit=100`, { token: tokenOf(alice) });
    expect(audit.status).toBe(200);
    const entries = audit.body.entries as
      Array<{ actor: string; app: string | null; object: string }> | undefined;
    const last = (entries ?? []).find((e) => e.object.endsWith('/who'));
    expect(last).toMatchObject({ actor: alice.did, app: null });
  });

  it('refuses dot segments and keeps encoded tricks inside the person’s own instance', async () => {
    const t = tokenOf(alice);
    const bobBefore = (await gw.provisioner.status(bob.did)).lastActiveAt;
    const traversal = [
      `/v1/i/${alice.did}/../${bob.did}/data/notes/secret`,
      `/v1/i/${alice.did}/data/notes/../../../i/${bob.did}/data/notes/secret`,
      `/v1/i/${alice.did}/data/./notes/secret`,
      `/v1/i/${alice.did}/data/notes/..`,
    ];
    for (const path of traversal) {
      const res = await raw(gw.url, 'GET', path, { token: t });
      expect(res.status, path).toBe(400);
      expect(JSON.parse(res.body).error, path).toBe('invalid_path');
    }
    // Percent-encoded, they reach alice's own instance, which takes them as (invalid or absent)
    // names, never as paths: a 4xx, and nothing of bob's.
    const encoded = [
      `/v1/i/${alice.did}/data/notes/..%2F..%2F${encodeURIComponent(bob.did)}%2Fsecret`,
      `/v1/i/${alice.did}/data/notes/%2e%2e`,
      `/v1/i/${alice.did}/data/notes%2F..%2Fother/key`,
      `/v1/i/${alice.did}/data/%2e%2e/secret`,
      `/v1/i/${alice.did}/data/notes%00/secret`,
      `/v1/i/${alice.did}/%2e%2e%2Fdata/notes/secret`,
      `/v1/i/${alice.did}/data/notes/%2e%2e%2f%2e%2e%2fsecret`,
    ];
    for (const path of encoded) {
      const res = await raw(gw.url, 'GET', path, { token: t });
      expect(res.status, `${path} ${res.body}`).toBeGreaterThanOrEqual(400);
      expect(res.status, path).toBeLessThan(500);
      expect(JSON.parse(res.body).error, path).toMatch(/^[a-z_]+$/);
      expect(res.body, path).not.toContain('bob only');
    }
    expect((await gw.provisioner.status(bob.did)).lastActiveAt).toBe(bobBefore);
  });

  it('refuses a body over the tier’s largest value with 413, declared or chunked, storing nothing', async () => {
    const t = tokenOf(alice);
    const limit = 8 * MiB; // free tier
    const declared = await raw(gw.url, 'PUT', `/v1/i/${alice.did}/data/files/big`, {
      token: t,
      body: Buffer.alloc(limit + 1, 1),
    });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body)).toMatchObject({ error: 'too_large', details: { limit } });
    const chunked = await raw(gw.url, 'PUT', `/v1/i/${alice.did}/data/files/big`, {
      token: t,
      chunked: { chunks: 9, chunkBytes: MiB },
    });
    expect(chunked.status).toBe(413);
    const absent = await call(gw.url, 'GET', `/v1/i/${alice.did}/data/files/big`, { token: t });
    expect(absent.status).toBe(404);
    // Exactly at the limit is fine.
    const atLimit = await raw(gw.url, 'PUT', `/v1/i/${alice.did}/data/files/big`, {
      token: t,
      body: Buffer.alloc(limit, 2),
    });
    expect(atLimit.status, atLimit.body).toBe(200);
    // A body without a content type is forwarded as bytes too.
    const untyped = await raw(gw.url, 'PUT', `/v1/i/${alice.did}/data/files/untyped`, {
      token: t,
      untyped: true,
      body: Buffer.from('abc'),
    });
    expect(untyped.status, untyped.body).toBe(200);
  });

  it('answers 423 locked for a sovereign instance, which this host cannot open', async () => {
    const res = await call(gw.url, 'POST', '/v1/signup', {
      json: { tier: 'free', mode: 'sovereign', transaction: didCreate(erin, { chainId: chain.chainId }) },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.mode).toBe('sovereign');
    expect((res.body.instance as { state: string }).state).toBe('locked');
    const token = (res.body.session as { token: string }).token;
    const usage = await call(gw.url, 'GET', `/v1/i/${erin.did}/usage`, { token });
    expect(usage.status).toBe(423);
    expect(usage.body.error).toBe('locked');
  });

  it('passes the instance’s own errors through unchanged', async () => {
    const t = tokenOf(alice);
    const missing = await call(gw.url, 'GET', `/v1/i/${alice.did}/data/notes/never`, { token: t });
    expect(missing.status).toBe(404);
    expect(missing.body.error).toBe('not_found');
    const conflict = await call(gw.url, 'PUT', `/v1/i/${alice.did}/data/notes/who`, {
      token: t,
      body: 'x',
      headers: { 'if-match': `"${'0'.repeat(64)}"` },
    });
    expect(conflict.status, JSON.stringify(conflict.body)).toBe(412);
    const head = await raw(gw.url, 'HEAD', `/v1/i/${alice.did}/data/notes/who`, { token: t });
    expect(head.status).toBe(200);
    expect(head.headers.etag).toMatch(/^"[0-9a-f]{64}"$/);
    expect(head.body).toBe('');
    const usage = await call(gw.url, 'GET', `/v1/i/${alice.did}/usage`, { token: t });
    expect(usage.status).toBe(200);
    expect(usage.body.quota_bytes ?? usage.body.quotaBytes).toBe(10_000_000_000);
  });

  it('rate-limits per person and per IP address, answering 429 with Retry-After', async () => {
    const limited = await startTestCloud(chain, {
      rateLimit: {
        classes: {
          anonymous: { perMinute: 1, burst: 4 },
          authenticated: { perMinute: 1, burst: 5 },
        },
      },
    });
    try {
      const people = new Map<string, string>();
      for (const p of [carol, dave]) {
        const res = await call(limited.url, 'POST', '/v1/signup', {
          json: { tier: 'free', transaction: didCreate(p, { chainId: chain.chainId }) },
        });
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        people.set(p.did, (res.body.session as { token: string }).token);
      }
      // Two sign-ups used two of this IP's four anonymous requests.
      for (let i = 0; i < 2; i++) {
        const res = await call(limited.url, 'POST', '/v1/auth/challenge', { json: { did: carol.did } });
        expect(res.status).toBe(200);
      }
      const anonymous = await call(limited.url, 'POST', '/v1/auth/challenge', { json: { did: carol.did } });
      expect(anonymous.status).toBe(429);
      expect(anonymous.body.error).toBe('rate_limit_exceeded');
      expect(Number(anonymous.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

      // People have buckets of their own, whatever their IP address's bucket says.
      const me = (p: DeviceIdentity) => call(limited.url, 'GET', '/v1/me', { token: people.get(p.did)! });
      for (let i = 0; i < 5; i++) {
        const res = await me(carol);
        expect(res.status, `request ${i + 1}`).toBe(200);
        expect(res.headers.get('x-ratelimit-limit')).toBe('5');
        expect(res.headers.get('x-ratelimit-remaining')).toBe(String(4 - i));
      }
      const over = await me(carol);
      expect(over.status).toBe(429);
      expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(
        (await call(limited.url, 'GET', `/v1/i/${carol.did}/usage`, { token: people.get(carol.did)! }))
          .status,
      ).toBe(429);
      expect((await me(dave)).status).toBe(200);
      // Health and metrics are never limited.
      expect((await call(limited.url, 'GET', '/health')).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});
