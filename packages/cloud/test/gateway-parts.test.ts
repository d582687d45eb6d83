import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { NodeClient } from '@self/node/client';
import { accountKeysFromSeed, sha512, utf8 } from '@self/crypto';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { TokenBuckets } from '../src/auth/rate-limit.js';
import { SessionManager } from '../src/auth/sessions.js';
import { bearerToken } from '../src/auth/tokens.js';
import { DEFAULT_RATE_CLASSES } from '../src/config/tiers.js';
import { AccountStore } from '../src/db/accounts.js';
import { openControlDatabase } from '../src/db/database.js';
import { createCloud, type CloudOptions } from '../src/gateway.js';
import { PUBLIC_URL, testProvisioner } from './support/cloud.js';

const root = mkdtempSync(join(tmpdir(), 'self-cloud-parts-'));
const provisioners: Array<ReturnType<typeof testProvisioner>> = [];
afterAll(async () => {
  for (const p of provisioners) await p.close();
  rmSync(root, { recursive: true, force: true });
});

/** A gateway that never reaches its chain (nothing here signs up). */
function options(dataDir: string, extra: Partial<CloudOptions> = {}): CloudOptions {
  const provisioner = testProvisioner(join(root, 'i'));
  provisioners.push(provisioner);
  return {
    dataDir,
    provisioner,
    chain: {
      client: new NodeClient('http://127.0.0.1:9'),
      chainId: 'self-parts',
      sponsor: null,
      pointPrice: 1,
    },
    publicUrl: PUBLIC_URL,
    logger: false,
    ...extra,
  };
}

describe('token buckets', () => {
  it('allow a burst, then the steady rate, and say how long to wait', () => {
    let clock = 0;
    const buckets = new TokenBuckets(
      { ...DEFAULT_RATE_CLASSES, anonymous: { perMinute: 60, burst: 3 } },
      10,
      () => clock,
    );
    const take = () => buckets.take('anonymous|1.2.3.4', 'anonymous');
    expect([take(), take(), take()].map((t) => [t.allowed, t.remaining])).toEqual([
      [true, 2],
      [true, 1],
      [true, 0],
    ]);
    const refused = take();
    expect(refused.allowed).toBe(false);
    expect(refused.waitMs).toBe(1_000);
    clock += 1_000; // one token per second at 60/min
    expect(take().allowed).toBe(true);
    expect(take().allowed).toBe(false);
    // Other callers have buckets of their own.
    expect(buckets.take('anonymous|5.6.7.8', 'anonymous').allowed).toBe(true);
    // A long pause refills to the burst, no further.
    clock += 3_600_000;
    expect([take(), take(), take(), take()].map((t) => t.allowed)).toEqual([true, true, true, false]);
  });
});

describe('sessions', () => {
  it('forget what is revoked or expired, cached or not', () => {
    let clock = 1_000;
    const db = openControlDatabase(join(root, 'sessions.db'));
    const sessions = new SessionManager(db, { ttlMs: 100, cacheLimit: 2, now: () => clock });
    const a = sessions.create('did:self:a');
    const b = sessions.create('did:self:b');
    const c = sessions.create('did:self:b');
    // The cache holds two: `a` is read back from the table.
    expect(sessions.resolve(a.token)).toEqual({ did: 'did:self:a', expiresAt: 1_100 });
    expect(sessions.revokeAll('did:self:b')).toBe(2);
    expect(sessions.resolve(b.token)).toBeNull();
    expect(sessions.resolve(c.token)).toBeNull();
    expect(sessions.revoke(a.token)).toBe(true);
    expect(sessions.resolve(a.token)).toBeNull();
    const d = sessions.create('did:self:d');
    clock += 100;
    expect(sessions.resolve(d.token)).toBeNull();
    // Stored as hashes only.
    const stored = db.prepare('SELECT token_hash FROM sessions').all() as Array<{ token_hash: Buffer }>;
    for (const row of stored) expect(row.token_hash.length).toBe(32);
    db.close();
  });

  it('read bearer tokens strictly', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer abc')).toBe('abc');
    expect(bearerToken('Bearer  abc')).toBeNull();
    expect(bearerToken('Bearer abc def')).toBeNull();
    expect(bearerToken('Basic abc')).toBeNull();
    expect(bearerToken(['Bearer a', 'Bearer b'])).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
  });
});

describe('the control plane across restarts', () => {
  it('keeps the operator token and turns interrupted sign-ups into resumable failures', async () => {
    const dataDir = join(root, 'restart');
    const first = createCloud(options(dataDir));
    const token = first.operatorToken;
    await first.close();
    // A sign-up that was running when the process died.
    const db = openControlDatabase(join(dataDir, 'control.db'));
    const did = `did:self:${accountKeysFromSeed(sha512(utf8('interrupted')), 'ed25519').address}`;
    new AccountStore(db).reserve(
      { did, address: did.slice(9), tier: 'free', mode: 'always-on', quotaBytes: 1, encryptionKeyHash: 'x' },
      1,
    );
    db.close();

    const second = createCloud(options(dataDir));
    expect(second.operatorToken).toBe(token);
    const admin = await second.app.inject({
      method: 'GET',
      url: '/v1/admin/instances',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(admin.statusCode).toBe(200);
    await second.close();
    const after = openControlDatabase(join(dataDir, 'control.db'));
    expect(new AccountStore(after).get(did)?.state).toBe('failed');
    after.close();
  });
});

describe('logging', () => {
  it('redacts bearer tokens and token fields', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const cloud = createCloud(options(join(root, 'logs'), { logger: pino({ level: 'info' }, sink) }));
    cloud.app.log.info(
      {
        req: { headers: { authorization: 'Bearer self_s_secret' } },
        session: { token: 'self_s_secret2' },
        token: 'self_op_x',
      },
      'probe',
    );
    await cloud.close();
    const text = lines.join('');
    expect(text).toContain('probe');
    expect(text).toContain('[redacted]');
    expect(text).not.toContain('self_s_secret');
    expect(text).not.toContain('self_op_x');
  });
});

describe('cross-origin browser apps', () => {
  it('answer preflights and expose the headers an SDK reads, for any origin (bearer tokens only, no cookies)', async () => {
    const cloud = createCloud(options(join(root, 'cors')));
    try {
      const preflight = await cloud.app.inject({
        method: 'OPTIONS',
        url: '/v1/i/did:self:self1abc/data/default/k',
        headers: {
          origin: 'https://app.example',
          'access-control-request-method': 'PUT',
          'access-control-request-headers': 'authorization, content-type',
        },
      });
      expect(preflight.statusCode).toBe(204);
      expect(preflight.headers['access-control-allow-origin']).toBe('*');
      expect(String(preflight.headers['access-control-allow-methods'])).toContain('PUT');
      expect(String(preflight.headers['access-control-allow-headers'])).toContain('authorization');
      expect(preflight.headers['access-control-allow-credentials']).toBeUndefined();

      const meta = await cloud.app.inject({
        method: 'GET',
        url: '/.well-known/oauth-authorization-server',
        headers: { origin: 'https://app.example' },
      });
      expect(meta.statusCode).toBe(200);
      expect(meta.headers['access-control-allow-origin']).toBe('*');
      expect(String(meta.headers['access-control-expose-headers'])).toContain('retry-after');
    } finally {
      await cloud.close();
    }
  });
});
