import { encode as cborEncode } from 'cborg';
import { describe, expect, it } from 'vitest';
import {
  accountKeysFromPhrase,
  accountKeysFromSeed,
  addressFromPublicKey,
  fromHex,
  sha512,
  taggedHash,
  toHex,
  utf8,
} from '@self/crypto';
import { docVector } from '../../../scripts/doc-vectors.js';
import {
  commitHash,
  decodeBlock,
  decodeBlockHeader,
  decodeCommitCertificate,
  decodeProposal,
  decodeSignedProposal,
  decodeSignedTransaction,
  decodeSignedVote,
  decodeVote,
  encodeBlock,
  encodeBlockHeader,
  encodeCommitCertificate,
  encodeProposal,
  encodeSignedProposal,
  encodeSignedTransaction,
  encodeSignedVote,
  encodeVote,
  headerHash,
  proposalSignBytes,
  senderOf,
  signProposal,
  signTransaction,
  signVote,
  txHash,
  txRoot,
  verifyProposalSignature,
  verifyTransactionSignature,
  verifyVoteSignature,
  voteSignBytes,
} from '../src/codec.js';
import { decode, encode, hashValue } from '../src/encoding.js';
import { ChainError, type ChainErrorCode } from '../src/errors.js';
import { parseTransaction } from '../src/schema/index.js';
import {
  DOMAIN,
  type Block,
  type BlockHeader,
  type CommitCertificate,
  type Proposal,
  type SignedTransaction,
  type Transaction,
  type TxBodies,
  type TxKind,
  type Vote,
} from '../src/types.js';

const DOC = 'docs/protocol/transactions.md';
const key = (label: string) => accountKeysFromSeed(sha512(utf8(label)), 'ed25519');
const alice = key('alice');
const bob = key('bob');
const h = (n: number) => new Uint8Array(32).fill(n);

const DOCUMENT = {
  root_key: new Uint8Array([3, ...new Uint8Array(64).fill(7)]),
  encryption_key: new Uint8Array(100).fill(9),
  delegates: [{ id: 'instance', public_key: bob.account.publicKey, purposes: ['anchor'] }],
  services: [{ id: 'hub', type: 'SelfInstance', endpoint: 'https://alice.example/instance' }],
};

const BODIES: { [K in TxKind]: TxBodies[K] } = {
  transfer: { to: bob.address, amount: 5 },
  'did.create': { document: DOCUMENT },
  'did.update': { document: DOCUMENT },
  'did.deactivate': {},
  'node.announce': {
    did: alice.did,
    peer_id: '12D3KooWabc',
    multiaddrs: ['/ip4/127.0.0.1/tcp/4001'],
    roles: ['validator'],
    version: '0.1.0',
  },
  'app.register': {
    app_id: `app_${'ab'.repeat(16)}`,
    name: 'Notes',
    logo_uri: 'https://notes.example/logo.png',
    redirect_uris: ['https://notes.example/cb'],
    scopes: ['storage:read'],
  },
  'app.update': {
    app_id: `app_${'ab'.repeat(16)}`,
    name: 'Notes',
    logo_uri: '',
    redirect_uris: ['https://notes.example/cb'],
    scopes: ['ai:chat'],
    active: false,
  },
  anchor: { did: alice.did, kind: 'audit', seq: 1, root: h(4), count: 10 },
  bond: { amount: 1000 },
  unbond: { amount: 10 },
  evidence: { vote_a: new Uint8Array([1, 2, 3]), vote_b: new Uint8Array([4, 5]) },
};

function tx<K extends TxKind>(kind: K, body: TxBodies[K], nonce = 1): Transaction<K> {
  return { v: 1, chain_id: 'self-test', kind, nonce, point_price: 3, body };
}

const header: BlockHeader = {
  v: 1,
  chain_id: 'self-test',
  height: 2,
  prev_hash: h(1),
  timestamp: 1_767_225_600_123,
  state_root: h(2),
  tx_root: h(3),
  colour_root: h(4),
  last_commit_hash: h(5),
  proposer: alice.address,
  round: 0,
  efficiency: 9000,
  point_price: 3,
};
const vote: Vote = {
  v: 1,
  chain_id: 'self-test',
  height: 2,
  round: 1,
  type: 'prevote',
  block_hash: h(8),
  ranking: [h(8), h(9)],
};
const nilVote: Vote = { ...vote, type: 'precommit', block_hash: null, ranking: [] };
const cert: CommitCertificate = {
  height: 1,
  round: 0,
  block_hash: h(1),
  votes: [encodeSignedVote(signVote(nilVote, alice.account))],
};
const stx = signTransaction(tx('transfer', BODIES.transfer), alice.account);
const block: Block = {
  header,
  txs: [encodeSignedTransaction(stx)],
  colours: [{ address: alice.address, from: 0, to: 0xabcdef, tx_hash: txHash(stx) }],
  last_commit: cert,
};
const proposal: Proposal = { v: 1, block, pol_round: -1, round: 1 };

function expectCode(fn: () => unknown, code: ChainErrorCode): ChainError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ChainError);
    expect((err as ChainError).code).toBe(code);
    return err as ChainError;
  }
  throw new Error(`expected ChainError(${code})`);
}

describe('codec round trips', () => {
  it.each(Object.keys(BODIES) as TxKind[])('signed %s transaction', (kind) => {
    const signed = signTransaction(tx(kind, BODIES[kind]), alice.account);
    const bytes = encodeSignedTransaction(signed);
    const back = decodeSignedTransaction(bytes);
    expect(back).toEqual(signed);
    expect(encodeSignedTransaction(back)).toEqual(bytes);
    expect(verifyTransactionSignature(back)).toBe(true);
  });

  const cases: Array<[string, () => Uint8Array, (b: Uint8Array) => unknown, unknown]> = [
    ['header', () => encodeBlockHeader(header), decodeBlockHeader, header],
    ['block', () => encodeBlock(block), decodeBlock, block],
    [
      'block without last commit',
      () => encodeBlock({ ...block, last_commit: null }),
      decodeBlock,
      { ...block, last_commit: null },
    ],
    ['vote', () => encodeVote(vote), decodeVote, vote],
    ['nil vote', () => encodeVote(nilVote), decodeVote, nilVote],
    [
      'signed vote',
      () => encodeSignedVote(signVote(vote, alice.account)),
      decodeSignedVote,
      signVote(vote, alice.account),
    ],
    ['proposal', () => encodeProposal(proposal), decodeProposal, proposal],
    [
      'signed proposal',
      () => encodeSignedProposal(signProposal(proposal, bob.account)),
      decodeSignedProposal,
      signProposal(proposal, bob.account),
    ],
    ['commit certificate', () => encodeCommitCertificate(cert), decodeCommitCertificate, cert],
  ];
  it.each(cases)('%s', (_name, enc, dec, value) => {
    const bytes = enc();
    const back = dec(bytes);
    expect(back).toEqual(value);
    expect(toHex(encode(back))).toBe(toHex(bytes));
  });
});

describe('strict decoding', () => {
  const good = encodeSignedTransaction(stx);

  it('rejects bytes that are not CBOR, truncated or followed by trailing bytes', () => {
    expectCode(() => decodeSignedTransaction(new Uint8Array([0xff, 0x00])), 'malformed');
    expectCode(() => decodeSignedTransaction(good.subarray(0, good.length - 3)), 'malformed');
    expectCode(() => decodeSignedTransaction(new Uint8Array([...good, 0x00])), 'malformed');
  });

  it('rejects a non-canonical encoding of a valid transaction', () => {
    // Same value, map keys in reverse order: decodable CBOR, but not the canonical bytes.
    type Tok = { value: unknown };
    const keyOf = (e: Array<Tok | Tok[]>): string => {
      const k = e[0]!;
      return String((Array.isArray(k) ? k[0]! : k).value);
    };
    const reverse = (a: Array<Tok | Tok[]>, b: Array<Tok | Tok[]>): number => (keyOf(a) < keyOf(b) ? 1 : -1);
    const reversed = cborEncode(stx, { mapSorter: reverse });
    expect(reversed).not.toEqual(good);
    expect(decodeSignedTransaction(good)).toEqual(stx);
    expectCode(() => decodeSignedTransaction(reversed), 'non_canonical');
    // 5 written as a one-byte-argument integer (0x18 0x05) instead of the direct form 0x05.
    expectCode(() => decodeVote(new Uint8Array([0x18, 0x05])), 'non_canonical');
  });

  it('rejects oversized input before decoding', () => {
    expectCode(() => decodeSignedTransaction(good, good.length - 1), 'oversized');
    expectCode(() => decodeVote(new Uint8Array(16 * 1024 + 1)), 'oversized');
  });

  const mutate = (f: (o: Record<string, unknown>) => void) => {
    const copy = structuredClone({
      tx: { ...stx.tx, body: { ...stx.tx.body } },
      signer: stx.signer,
      sig: stx.sig,
    }) as Record<string, unknown>;
    f(copy);
    return encode(copy);
  };
  const txOf = (o: Record<string, unknown>) => o.tx as Record<string, unknown>;
  const bodyOf = (o: Record<string, unknown>) => txOf(o).body as Record<string, unknown>;

  it.each<[string, (o: Record<string, unknown>) => void]>([
    ['an extra top-level key', (o) => (o.extra = 1)],
    ['an extra body key', (o) => (bodyOf(o).memo = 'hi')],
    ['a missing key', (o) => delete txOf(o).point_price],
    ['a string nonce', (o) => (txOf(o).nonce = '1')],
    ['a negative amount', (o) => (bodyOf(o).amount = -1)],
    ['an unsafe integer', (o) => (bodyOf(o).amount = 2 ** 53)],
    ['a float', (o) => (bodyOf(o).amount = 1.5)],
    ['version 2', (o) => (txOf(o).v = 2)],
    ['an unknown kind', (o) => (txOf(o).kind = 'mint')],
    ['a bad address', (o) => (bodyOf(o).to = 'self1notanaddress')],
    ['an upper-case chain id', (o) => (txOf(o).chain_id = 'SELF')],
    ['a string signature', (o) => (o.sig = 'abc')],
    ['an array instead of a map', (o) => (o.tx = [1, 2])],
  ])('rejects %s as malformed', (_name, f) => {
    let bytes: Uint8Array;
    try {
      bytes = mutate(f);
    } catch {
      // Values the canonical encoder refuses (floats, unsafe integers): encode them raw.
      const raw = structuredClone({
        tx: { ...stx.tx, body: { ...stx.tx.body } },
        signer: stx.signer,
        sig: stx.sig,
      }) as Record<string, unknown>;
      f(raw);
      bytes = cborEncode(raw);
    }
    expectCode(() => decodeSignedTransaction(bytes), 'malformed');
  });

  it('checks lengths of hashes and bounds of lists and strings', () => {
    expectCode(() => decodeBlockHeader(encode({ ...header, prev_hash: new Uint8Array(31) })), 'malformed');
    expectCode(() => decodeVote(encode({ ...vote, ranking: [new Uint8Array(33)] })), 'malformed');
    expectCode(() => decodeVote(encode({ ...vote, type: 'commit' })), 'malformed');
    const longName = tx('app.register', { ...BODIES['app.register'], name: 'x'.repeat(65) });
    expectCode(() => decodeSignedTransaction(encode({ ...stx, tx: longName })), 'malformed');
    const manyAddrs = tx('node.announce', {
      ...BODIES['node.announce'],
      multiaddrs: Array.from({ length: 9 }, (_, i) => `/ip4/10.0.0.${i}/tcp/1`),
    });
    expectCode(() => decodeSignedTransaction(encode({ ...stx, tx: manyAddrs })), 'malformed');
    const dupScopes = tx('app.register', { ...BODIES['app.register'], scopes: ['ai:chat', 'ai:chat'] });
    expectCode(() => decodeSignedTransaction(encode({ ...stx, tx: dupScopes })), 'malformed');
    // 512 bytes of logo URL is the bound, counted in UTF-8 bytes, not characters.
    const logo = (path: string) =>
      tx('app.register', { ...BODIES['app.register'], logo_uri: `https://l.example/${path}` });
    const fits = 'x'.repeat(512 - 'https://l.example/'.length);
    expect(() => decodeSignedTransaction(encode({ ...stx, tx: logo(fits) }))).not.toThrow();
    expectCode(() => decodeSignedTransaction(encode({ ...stx, tx: logo(`${fits}x`) })), 'malformed');
    expectCode(() => decodeSignedTransaction(encode({ ...stx, tx: logo(`${fits.slice(1)}é`) })), 'malformed');
    const { logo_uri: _dropped, ...noLogo } = BODIES['app.register'];
    expectCode(
      () => decodeSignedTransaction(encode({ ...stx, tx: tx('app.register', noLogo as never) })),
      'malformed',
    );
    expectCode(() => decodeProposal(encode({ ...proposal, pol_round: -2 })), 'malformed');
  });
});

describe('hashes and signatures', () => {
  it('hashes the unsigned transaction with its signer key under its domain and signs that hash', () => {
    expect(txHash(stx)).toEqual(hashValue(DOMAIN.transaction, { tx: stx.tx, signer: stx.signer }));
    expect(txHash(stx)).toEqual(
      taggedHash(DOMAIN.transaction, encode({ tx: stx.tx, signer: alice.account.publicKey })),
    );
    // The signature is not covered: the hash cannot be changed by re-signing.
    const resigned: SignedTransaction = { ...stx, sig: new Uint8Array([1]) };
    expect(txHash(resigned)).toEqual(txHash(stx));
    expect(senderOf(stx)).toBe(alice.address);
    expect(verifyTransactionSignature(stx)).toBe(true);
  });

  it('gives identical transactions from two senders different hashes', () => {
    const same = tx('transfer', BODIES.transfer);
    expect(txHash(signTransaction(same, alice.account))).not.toEqual(
      txHash(signTransaction(same, bob.account)),
    );
  });

  it('rejects tampered signatures, bodies and signers', () => {
    const sig = stx.sig.slice();
    sig[10]! ^= 1;
    expect(verifyTransactionSignature({ ...stx, sig })).toBe(false);
    expect(verifyTransactionSignature({ ...stx, tx: { ...stx.tx, nonce: 2 } })).toBe(false);
    expect(verifyTransactionSignature({ ...stx, signer: bob.account.publicKey })).toBe(false);
    expect(verifyTransactionSignature({ ...stx, sig: new Uint8Array(0) })).toBe(false);
  });

  it('signs votes over voteSignBytes', () => {
    const sv = signVote(vote, alice.account);
    expect(voteSignBytes(vote)).toEqual(hashValue(DOMAIN.vote, vote));
    expect(verifyVoteSignature(sv)).toBe(true);
    expect(verifyVoteSignature({ ...sv, vote: { ...vote, round: 2 } })).toBe(false);
  });

  it('signs proposals over the header hash, not the body', () => {
    const sp = signProposal(proposal, alice.account);
    expect(proposalSignBytes(proposal)).toEqual(
      hashValue(DOMAIN.proposal, { v: 1, round: 1, pol_round: -1, block_hash: headerHash(header) }),
    );
    expect(verifyProposalSignature(sp)).toBe(true);
    // The body binds through header.tx_root; the signature itself only covers the header.
    expect(verifyProposalSignature({ ...sp, proposal: { ...proposal, block: { ...block, txs: [] } } })).toBe(
      true,
    );
    expect(
      verifyProposalSignature({
        ...sp,
        proposal: { ...proposal, block: { ...block, header: { ...header, round: 5 } } },
      }),
    ).toBe(false);
    expect(verifyProposalSignature({ ...sp, proposal: { ...proposal, pol_round: 0 } })).toBe(false);
  });

  it('commitHash is 32 zero bytes for no certificate', () => {
    expect(commitHash(null)).toEqual(new Uint8Array(32));
    expect(commitHash(cert)).toEqual(hashValue(DOMAIN.commit, cert));
  });

  it('txRoot pins leaf/node prefixes, odd promotion and the empty root', () => {
    const leaf = (x: Uint8Array) => taggedHash(DOMAIN.txRoot, new Uint8Array([0]), x);
    const node = (a: Uint8Array, b: Uint8Array) => taggedHash(DOMAIN.txRoot, new Uint8Array([1]), a, b);
    expect(txRoot([])).toEqual(taggedHash(DOMAIN.txRoot));
    expect(txRoot([h(1)])).toEqual(leaf(h(1)));
    expect(txRoot([h(1), h(2)])).toEqual(node(leaf(h(1)), leaf(h(2))));
    expect(txRoot([h(1), h(2), h(3)])).toEqual(node(node(leaf(h(1)), leaf(h(2))), leaf(h(3))));
    const five = [1, 2, 3, 4, 5].map(h);
    expect(txRoot(five)).toEqual(
      node(node(node(leaf(h(1)), leaf(h(2))), node(leaf(h(3)), leaf(h(4)))), leaf(h(5))),
    );
    // Duplicating the last hash must not give the same root (the CVE-2012-2459 shape).
    expect(txRoot([h(1), h(2), h(3), h(3)])).not.toEqual(txRoot([h(1), h(2), h(3)]));
  });

  it('covers the hybrid Ed25519 + ML-DSA-65 scheme', () => {
    const hybrid = accountKeysFromSeed(sha512(utf8('hybrid')), 'hybrid-ed25519-ml-dsa-65');
    const signed = signTransaction(tx('transfer', BODIES.transfer), hybrid.account);
    const back = decodeSignedTransaction(encodeSignedTransaction(signed));
    expect(verifyTransactionSignature(back)).toBe(true);
    expect(senderOf(back)).toBe(hybrid.address);
    const sig = back.sig.slice();
    sig[sig.length - 1]! ^= 1; // corrupt only the ML-DSA half
    expect(verifyTransactionSignature({ ...back, sig })).toBe(false);
  });
});

describe('documented vectors', () => {
  it('transfer transaction: canonical CBOR and hash', () => {
    const v = docVector<{
      tx: Transaction<'transfer'>;
      tx_cbor: string;
      signer: string;
      preimage_cbor: string;
      tx_hash: string;
    }>(DOC, 'transfer-tx');
    expect(toHex(encode(v.tx))).toBe(v.tx_cbor);
    const signer = fromHex(v.signer);
    expect(toHex(encode({ tx: v.tx, signer }))).toBe(v.preimage_cbor);
    expect(toHex(txHash({ tx: v.tx, signer }))).toBe(v.tx_hash);
  });

  it('signed Ed25519 transfer from the abandon … art phrase', () => {
    const v = docVector<{
      phrase: string;
      address: string;
      tx: Transaction<'transfer'>;
      signer: string;
      sig: string;
      tx_hash: string;
      encoded: string;
    }>(DOC, 'signed-transfer-ed25519');
    const keys = accountKeysFromPhrase(v.phrase, 'ed25519');
    expect(keys.address).toBe(v.address);
    const signed = signTransaction(v.tx, keys.account);
    expect(toHex(signed.signer)).toBe(v.signer);
    expect(toHex(signed.sig)).toBe(v.sig);
    expect(toHex(txHash(signed))).toBe(v.tx_hash);
    expect(toHex(encodeSignedTransaction(signed))).toBe(v.encoded);
    const decoded = decodeSignedTransaction(fromHex(v.encoded));
    expect(addressFromPublicKey(decoded.signer)).toBe(v.address);
    expect(verifyTransactionSignature(decoded)).toBe(true);
  });

  it('app.register with a logo: canonical CBOR and hash', () => {
    const v = docVector<{
      tx: Transaction<'app.register'>;
      tx_cbor: string;
      signer: string;
      tx_hash: string;
    }>(DOC, 'app-register-tx');
    expect(toHex(encode(v.tx))).toBe(v.tx_cbor);
    expect(parseTransaction(decode(fromHex(v.tx_cbor)))).toEqual(v.tx);
    expect(toHex(txHash({ tx: v.tx, signer: fromHex(v.signer) }))).toBe(v.tx_hash);
  });

  it('tx root of three hashes and of none', () => {
    const v = docVector<{ tx_hashes: string[]; root: string; empty_root: string }>(DOC, 'tx-root');
    expect(toHex(txRoot(v.tx_hashes.map(fromHex)))).toBe(v.root);
    expect(toHex(txRoot([]))).toBe(v.empty_root);
  });

  it('vote sign bytes', () => {
    const v = docVector<{ vote: Omit<Vote, 'block_hash'> & { block_hash: string }; sign_bytes: string }>(
      DOC,
      'vote-sign-bytes',
    );
    const decoded: Vote = { ...v.vote, block_hash: fromHex(v.vote.block_hash) };
    expect(toHex(voteSignBytes(decoded))).toBe(v.sign_bytes);
  });
});
