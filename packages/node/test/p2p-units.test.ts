import { describe, expect, it } from 'vitest';
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { encode } from '@self/chain';
import {
  DEFAULT_P2P_LIMITS,
  P2PError,
  encodeGossip,
  generatePeerKey,
  parseGossip,
  peerIdFromKeyBytes,
  privateKeyFromBytes,
  protocolIds,
  resolveLimits,
  splitPeerAddr,
  topicName,
} from '../src/p2p/index.js';
import { FloodGuard } from '../src/p2p/flood-guard.js';
import { PeerBook } from '../src/p2p/peer-book.js';
import { PenaltyBook } from '../src/p2p/peer-scoring.js';
import { TxBatcher } from '../src/p2p/tx-batcher.js';
import { TxGossipQueue } from '../src/p2p/tx-queue.js';
import { CHAIN_ID, realProposal, voteBytes } from './p2p-helpers.js';

describe('peer keys', () => {
  it('generates Ed25519 keys whose peer id is stable and matches libp2p', () => {
    const key = generatePeerKey();
    const id = peerIdFromKeyBytes(key);
    expect(id).toMatch(/^12D3KooW[1-9A-HJ-NP-Za-km-z]+$/);
    expect(peerIdFromKeyBytes(new Uint8Array(key))).toBe(id);
    expect(privateKeyFromBytes(key).type).toBe('Ed25519');
    expect(peerIdFromKeyBytes(generatePeerKey())).not.toBe(id);
  });

  it('rejects bytes that are not an Ed25519 libp2p key', async () => {
    expect(() => peerIdFromKeyBytes(new Uint8Array([1, 2, 3]))).toThrow(P2PError);
    const secp = privateKeyToProtobuf(await generateKeyPair('secp256k1'));
    expect(() => peerIdFromKeyBytes(secp)).toThrow(/Ed25519/);
  });
});

describe('names and limits', () => {
  it('puts the chain id and a version in topics and protocols', () => {
    expect(topicName('self-dev', 'vote')).toBe('/self/self-dev/vote/1');
    expect(protocolIds('self-dev')).toEqual({
      sync: '/self/self-dev/sync/1',
      txs: '/self/self-dev/txs/1',
      proposal: '/self/self-dev/proposal/1',
      kad: '/self/self-dev/kad/1.0.0',
    });
  });

  it('validates limits and makes a largest proposal fit the byte bucket', () => {
    expect(() => resolveLimits({ msgBurst: 0 })).toThrow(RangeError);
    const l = resolveLimits({ maxProposalBytes: 300 * 1024 * 1024 });
    expect(l.bytesBurst).toBeGreaterThan(300 * 1024 * 1024);
    expect(resolveLimits(undefined).maxTxBatchBytes).toBe(DEFAULT_P2P_LIMITS.maxTxBatchBytes);
  });

  it('splits /p2p/ multiaddrs', () => {
    const id = peerIdFromKeyBytes(generatePeerKey());
    expect(splitPeerAddr(`/ip4/127.0.0.1/tcp/1234/p2p/${id}`)).toEqual({
      addr: '/ip4/127.0.0.1/tcp/1234',
      peer: id,
    });
    expect(splitPeerAddr('/ip4/127.0.0.1/tcp/1234')).toBeNull();
    expect(splitPeerAddr('nonsense')).toBeNull();
  });
});

describe('gossip codec', () => {
  const ctx = { chainId: CHAIN_ID, limits: resolveLimits(undefined) };

  it('accepts well-formed messages of each kind', () => {
    const vote = { t: 'vote' as const, data: voteBytes() };
    expect(parseGossip('vote', encodeGossip(vote), ctx)).toEqual({ ok: true, payload: vote });
    expect(parseGossip('block', encodeGossip({ t: 'status', height: 3 }), ctx)).toMatchObject({ ok: true });
    expect(parseGossip('tx', encodeGossip({ t: 'txs', data: [new Uint8Array([1])] }), ctx)).toMatchObject({
      ok: true,
    });
    const { bytes } = realProposal(2);
    expect(parseGossip('proposal', encodeGossip({ t: 'proposal', data: bytes }), ctx)).toMatchObject({
      ok: true,
    });
  });

  it('gives stable reasons for bad ones', () => {
    const reason = (kind: Parameters<typeof parseGossip>[0], bytes: Uint8Array): string | null => {
      const r = parseGossip(kind, bytes, ctx);
      return r.ok ? null : r.reason;
    };
    expect(reason('vote', new Uint8Array([0xff]))).toBe('malformed');
    expect(reason('vote', encode({ t: 'vote', data: new Uint8Array([1, 2]) }))).toBe('malformed');
    expect(reason('vote', encode({ t: 'vote', data: voteBytes(), extra: 1 }))).toBe('malformed');
    expect(reason('vote', encode({ t: 'vote', data: voteBytes('other-chain') }))).toBe('wrong_chain');
    expect(reason('vote', new Uint8Array(65 * 1024))).toBe('oversized');
    expect(reason('tx', encode({ t: 'txs', data: [] }))).toBe('malformed');
    expect(reason('block', encode({ t: 'status', height: 'x' }))).toBe('malformed');
    expect(reason('proposal', encode({ t: 'proposal', data: voteBytes() }))).toBe('malformed');
    expect(
      reason(
        'proposal',
        encode({ t: 'proposal-compact', skeleton: voteBytes(), digests: [], digest: new Uint8Array(32) }),
      ),
    ).toBe('malformed');
  });
});

describe('flood guard, penalties, peer book, batcher', () => {
  it('refuses a peer over its message or byte budget until it refills', () => {
    let now = 0;
    const g = new FloodGuard({ ratePerSec: 2, burst: 3, bytesPerSec: 100, bytesBurst: 100 }, () => now);
    expect([1, 2, 3, 4].map(() => g.allow('p', 1))).toEqual([true, true, true, false]);
    expect(g.allow('q', 1)).toBe(true);
    now += 1000;
    expect(g.allow('p', 1)).toBe(true);
    expect(g.allow('q', 500)).toBe(false);
  });

  it('decays penalty points and bans at the threshold for a while', () => {
    let now = 0;
    const b = new PenaltyBook({ banPoints: 100, banMs: 1000, halfLifeMs: 100, now: () => now });
    expect(b.add('p', 'malformed')).toBe(false);
    expect(b.appScore('p')).toBe(-10);
    now += 100;
    expect(b.pointsOf('p')).toBeCloseTo(5);
    expect(b.add('p', 'equivocation', 95)).toBe(true);
    expect(b.isBanned('p')).toBe(true);
    now += 1001;
    expect(b.isBanned('p')).toBe(false);
  });

  it('backs off redials exponentially and redials soon after a disconnect', () => {
    let now = 0;
    const book = new PeerBook({ baseMs: 100, maxMs: 1000, now: () => now, random: () => 0.5 });
    book.add('p', ['/ip4/127.0.0.1/tcp/1']);
    expect(book.due(() => false).map((p) => p.id)).toEqual(['p']);
    expect(book.due(() => true)).toEqual([]);
    book.failed('p');
    book.failed('p');
    book.failed('p');
    expect(book.get('p')!.nextDialAt).toBe(400);
    for (let i = 0; i < 10; i++) book.failed('p');
    expect(book.get('p')!.nextDialAt).toBe(1000);
    now = 50;
    book.connected('p');
    book.disconnected('p');
    expect(book.get('p')!.nextDialAt).toBe(150);
  });

  it('batches by count and by delay', async () => {
    const out: number[] = [];
    const b = new TxBatcher({ maxCount: 3, maxBytes: 1000, delayMs: 10, publish: (x) => out.push(x.length) });
    b.add([1, 2, 3, 4].map((i) => new Uint8Array([i])));
    expect(out).toEqual([3]);
    await new Promise((r) => setTimeout(r, 30));
    expect(out).toEqual([3, 1]);
    b.add([new Uint8Array(600), new Uint8Array(600)]);
    expect(out).toEqual([3, 1, 1]);
    b.clear();
  });

  it('holds transaction batches while the send backlog is full and drops the oldest past its budget', async () => {
    let backlog = 0;
    const sent: number[] = [];
    const q = new TxGossipQueue({
      maxQueuedBytes: 30,
      maxBacklogBytes: 20,
      retryMs: 5,
      backlog: () => backlog,
      send: async (m) => {
        sent.push(m[0]!);
        // Like gossipsub: signed first, then written to the peer streams.
        await Promise.resolve();
        backlog += m.length;
      },
    });
    // Each message is 10 bytes, tagged by its first byte.
    const msg = (tag: number): Uint8Array => new Uint8Array(10).fill(tag);
    for (let i = 1; i <= 6; i++) q.push(msg(i));
    await new Promise((r) => setTimeout(r, 20));
    // Two fit the backlog; of the four waiting, the oldest was dropped to stay within 30 bytes.
    expect(sent).toEqual([1, 2]);
    expect(q.dropped).toBe(1);
    backlog = 0;
    await new Promise((r) => setTimeout(r, 20));
    expect(sent).toEqual([1, 2, 4, 5]);
    backlog = 0;
    await new Promise((r) => setTimeout(r, 20));
    expect(sent).toEqual([1, 2, 4, 5, 6]);
    q.clear();
  });
});
