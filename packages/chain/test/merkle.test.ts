import { describe, expect, it } from 'vitest';
import { fromHex, sha256, taggedHash, toHex, utf8 } from '@self/crypto';
import { decode, encode } from '../src/encoding.js';
import { keyPath, StateTree, verifyStateProof, type StateProof } from '../src/merkle.js';
import { leafHash, nodeHash, valueHash } from '../src/merkle-hash.js';
import { DOMAIN } from '../src/types.js';
import { docVector } from '../../../scripts/doc-vectors.js';

const DOC = 'docs/protocol/state.md';
const ZERO = new Uint8Array(32);

/** Deterministic PRNG (mulberry32), so a failing random case reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(items: T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function bit(path: Uint8Array, d: number): number {
  return (path[d >> 3]! >> (7 - (d & 7))) & 1;
}

/**
 * Reference root straight from the definition in docs/protocol/state.md, with the generic
 * sha256/taggedHash of @self/crypto: an oracle independent of the tree's code.
 */
function referenceRoot(state: Map<string, Uint8Array>): Uint8Array {
  const pairs = [...state].map(([k, v]) => ({ path: sha256(utf8(k)), vh: sha256(v) }));
  const hash = (set: typeof pairs, d: number): Uint8Array => {
    if (set.length === 0) return ZERO;
    if (set.length === 1) return taggedHash(DOMAIN.stateLeaf, set[0]!.path, set[0]!.vh);
    return taggedHash(
      DOMAIN.stateNode,
      hash(
        set.filter((p) => bit(p.path, d) === 0),
        d + 1,
      ),
      hash(
        set.filter((p) => bit(p.path, d) === 1),
        d + 1,
      ),
    );
  };
  return hash(pairs, 0);
}

function value(i: number, version = 0): Uint8Array {
  return encode({ i, version });
}

/** Keys whose paths share their first `bits` bits with `base`'s, found by brute force. */
function keysSharingPrefix(base: string, bits: number, count: number): string[] {
  const target = keyPath(base);
  const out: string[] = [];
  for (let i = 0; out.length < count; i++) {
    const k = `${base}/${i}`;
    const p = keyPath(k);
    let same = true;
    for (let d = 0; d < bits && same; d++) same = bit(p, d) === bit(target, d);
    if (same) out.push(k);
  }
  return out;
}

describe('state tree hashing', () => {
  it('matches the generic taggedHash and sha256 definitions', () => {
    const a = sha256(utf8('a'));
    const b = sha256(utf8('b'));
    expect(toHex(leafHash(a, b))).toBe(toHex(taggedHash(DOMAIN.stateLeaf, a, b)));
    expect(toHex(nodeHash(a, b))).toBe(toHex(taggedHash(DOMAIN.stateNode, a, b)));
    for (const key of ['account/self1x', 'did/did:self:é✓', '']) {
      expect(toHex(keyPath(key))).toBe(toHex(sha256(utf8(key))));
    }
    expect(toHex(valueHash(utf8('v')))).toBe(toHex(sha256(utf8('v'))));
  });
});

describe('StateTree shape', () => {
  it('empty tree: zero root, size 0, nothing to get', () => {
    const t = StateTree.empty();
    expect(t.root()).toEqual(ZERO);
    expect(t.size()).toBe(0);
    expect(t.get('account/x')).toBeUndefined();
  });

  it('a single-leaf tree has the leaf hash as root', () => {
    const v = value(1);
    const t = StateTree.empty().withChanges(new Map([['account/a', v]]));
    expect(toHex(t.root())).toBe(toHex(taggedHash(DOMAIN.stateLeaf, sha256(utf8('account/a')), sha256(v))));
    expect(t.size()).toBe(1);
    expect(t.get('account/a')).toEqual(v);
  });

  it('the root depends only on the final set, whatever the order, batching and deletions', () => {
    const rand = rng(7);
    const state = new Map<string, Uint8Array>();
    for (let i = 0; i < 300; i++) state.set(`account/k${i}`, value(i));
    const expected = toHex(referenceRoot(state));
    const keys = [...state.keys()];
    for (let trial = 0; trial < 5; trial++) {
      let t = StateTree.empty();
      // Insert decoys and stale values, then fix everything up in random batches.
      const ops: Array<[string, Uint8Array | null]> = [];
      for (const k of keys) {
        if (rand() < 0.3) ops.push([k, value(-1)]);
        if (rand() < 0.2) ops.push([`junk/${k}`, value(-2)]);
      }
      for (const k of shuffle(keys, rand)) ops.push([k, state.get(k)!]);
      for (const k of keys) ops.push([`junk/${k}`, null]);
      let i = 0;
      while (i < ops.length) {
        const n = 1 + Math.floor(rand() * 40);
        const batch = new Map<string, Uint8Array | null>();
        // A batch is a Map: later writes to the same key win, like a block's overlay.
        for (const [k, v] of ops.slice(i, i + n)) batch.set(k, v);
        t = t.withChanges(batch);
        i += n;
      }
      expect(toHex(t.root())).toBe(expected);
      expect(t.size()).toBe(state.size);
    }
    expect(toHex(StateTree.fromEntries(state).root())).toBe(expected);
  });

  it('deleting every key returns to the empty root, in any order', () => {
    const rand = rng(11);
    const keys = Array.from({ length: 200 }, (_, i) => `did/d${i}`);
    const full = StateTree.fromEntries(keys.map((k, i) => [k, value(i)]));
    for (let trial = 0; trial < 3; trial++) {
      let t = full;
      const order = shuffle(keys, rand);
      while (order.length > 0) {
        t = t.withChanges(new Map(order.splice(0, 1 + Math.floor(rand() * 30)).map((k) => [k, null])));
      }
      expect(t.root()).toEqual(ZERO);
      expect(t.size()).toBe(0);
    }
  });

  it('collapses chains of single-child nodes when keys with long shared prefixes come and go', () => {
    const [a, b, c] = keysSharingPrefix('account/deep', 12, 3) as [string, string, string];
    const va = value(1);
    const ab = StateTree.empty().withChanges(
      new Map([
        [a, va],
        [b, value(2)],
        [c, value(3)],
      ]),
    );
    const state = new Map([
      [a, va],
      [b, value(2)],
      [c, value(3)],
    ]);
    expect(toHex(ab.root())).toBe(toHex(referenceRoot(state)));
    const onlyA = ab.withChanges(
      new Map([
        [b, null],
        [c, null],
      ]),
    );
    expect(toHex(onlyA.root())).toBe(toHex(leafHash(keyPath(a), valueHash(va))));
    for (const k of [a, b, c]) {
      const st = k === a ? ab : onlyA;
      expect(verifyStateProof(st.root(), k, st.get(k) ?? null, st.prove(k))).toBe(true);
    }
  });

  it('is persistent: older versions keep their root and values', () => {
    const t1 = StateTree.fromEntries([
      ['a', value(1)],
      ['b', value(2)],
    ]);
    const r1 = t1.root();
    const t2 = t1.withChanges(
      new Map([
        ['a', null],
        ['c', value(3)],
      ]),
    );
    const t3 = t1.withChanges(new Map([['b', value(9)]]));
    expect(t1.root()).toEqual(r1);
    expect(t1.get('a')).toEqual(value(1));
    expect(t2.get('a')).toBeUndefined();
    expect(t3.get('b')).toEqual(value(9));
    expect(t1.size()).toBe(2);
    expect(t2.size()).toBe(2);
    // Mutating a returned root must not reach into the tree.
    r1.fill(0xff);
    expect(t1.root()).not.toEqual(r1);
  });

  it('no-op batches give back the same tree', () => {
    const t = StateTree.fromEntries([
      ['a', value(1)],
      ['b', value(2)],
    ]);
    expect(t.withChanges(new Map())).toBe(t);
    expect(t.withChanges(new Map([['a', value(1)]]))).toBe(t);
    expect(t.withChanges(new Map([['zz', null]]))).toBe(t);
  });

  it('lists entries and refuses duplicate keys when built', () => {
    const t = StateTree.fromEntries([
      ['a', value(1)],
      ['b', value(2)],
    ]);
    expect(new Map(t.entries())).toEqual(
      new Map([
        ['a', value(1)],
        ['b', value(2)],
      ]),
    );
    expect(() =>
      StateTree.fromEntries([
        ['a', value(1)],
        ['a', value(2)],
      ]),
    ).toThrow(/duplicate/);
  });
});

describe('state proofs', () => {
  const entries = Array.from({ length: 500 }, (_, i): [string, Uint8Array] => [`account/p${i}`, value(i)]);
  const tree = StateTree.fromEntries(entries);
  const root = tree.root();

  it('inclusion proofs verify for every present key, and only with the right value and root', () => {
    for (const [k, v] of entries) {
      const proof = tree.prove(k);
      expect(proof.leaf).toBeNull();
      expect(verifyStateProof(root, k, v, proof)).toBe(true);
      expect(verifyStateProof(root, k, value(-1), proof)).toBe(false);
      expect(verifyStateProof(root, k, null, proof)).toBe(false);
    }
    const [k0, v0] = entries[0]!;
    const other = tree.withChanges(new Map([['account/new', value(1)]])).root();
    expect(verifyStateProof(other, k0, v0, tree.prove(k0))).toBe(false);
    expect(verifyStateProof(root, entries[1]![0], v0, tree.prove(k0))).toBe(false);
  });

  it('non-inclusion proofs verify for absent keys, ending at empty subtrees and at other leaves', () => {
    const kinds = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const k = `account/absent${i}`;
      const proof = tree.prove(k);
      kinds.add(proof.leaf === null ? 'empty' : 'leaf');
      expect(verifyStateProof(root, k, null, proof)).toBe(true);
      expect(verifyStateProof(root, k, value(0), proof)).toBe(false);
    }
    expect(kinds).toEqual(new Set(['empty', 'leaf']));
    // Absence in the empty tree: depth 0, nothing else.
    const e = StateTree.empty();
    expect(e.prove('x')).toEqual({ depth: 0, bitmap: new Uint8Array(0), siblings: [], leaf: null });
    expect(verifyStateProof(e.root(), 'x', null, e.prove('x'))).toBe(true);
  });

  it('rejects tampered proofs', () => {
    const [k, v] = entries[42]!;
    const good = tree.prove(k);
    const absentKey = [...Array(50).keys()].map((i) => `nope${i}`).find((x) => tree.prove(x).leaf !== null)!;
    const absent = tree.prove(absentKey);
    const clone = (p: StateProof): StateProof => decode(encode(p)) as StateProof;
    const tampered: Array<[string, StateProof, Uint8Array | null, string]> = [];
    let p = clone(good);
    p.siblings[0]![0]! ^= 1;
    tampered.push(['sibling bit', p, v, k]);
    p = clone(good);
    p.siblings.reverse();
    tampered.push(['sibling order', p, v, k]);
    p = clone(good);
    p.siblings.pop();
    tampered.push(['missing sibling', p, v, k]);
    p = clone(good);
    p.depth += 1;
    tampered.push(['depth', p, v, k]);
    p = clone(good);
    p.bitmap[0]! ^= 0x80;
    tampered.push(['bitmap', p, v, k]);
    p = clone(good);
    p.siblings.push(new Uint8Array(32));
    tampered.push(['zero sibling', p, v, k]);
    p = clone(good);
    p.leaf = { path: keyPath(k), value_hash: valueHash(v) };
    tampered.push(['leaf on inclusion', p, v, k]);
    p = clone(absent);
    p.leaf!.value_hash[0]! ^= 1;
    tampered.push(['other leaf value', p, null, absentKey]);
    p = clone(absent);
    p.leaf = null;
    tampered.push(['other leaf dropped', p, null, absentKey]);
    // The present key's own leaf offered as "another leaf" proves nothing.
    p = clone(good);
    p.leaf = { path: keyPath(k), value_hash: valueHash(v) };
    tampered.push(['own leaf as other', p, null, k]);
    p = clone(good);
    (p as unknown as Record<string, unknown>).extra = 1;
    tampered.push(['extra field', p, v, k]);
    p = clone(good);
    (p as unknown as Record<string, unknown>).siblings = 'x';
    tampered.push(['wrong type', p, v, k]);
    for (const [name, proof, val, key] of tampered) {
      expect(verifyStateProof(root, key, val, proof), name).toBe(false);
    }
    expect(verifyStateProof(root, k, v, good)).toBe(true);
    expect(verifyStateProof(root.subarray(1), k, v, good)).toBe(false);
  });

  it('proofs round-trip through canonical CBOR byte for byte and still verify', () => {
    for (const k of ['account/p1', 'account/p2', 'account/absent1', 'account/absent2']) {
      const proof = tree.prove(k);
      const bytes = encode(proof);
      const back = decode(bytes) as StateProof;
      expect(back).toEqual(proof);
      expect(encode(back)).toEqual(bytes);
      expect(verifyStateProof(root, k, tree.get(k) ?? null, back)).toBe(true);
    }
  });
});

describe('docs/protocol/state.md vectors', () => {
  interface ProofJson {
    depth: number;
    bitmap: string;
    siblings: string[];
    leaf: { path: string; value_hash: string } | null;
  }
  interface ProofVector {
    root: string;
    key: string;
    value: string | null;
    proof: ProofJson;
    proof_cbor: string;
  }
  const tree3 = docVector<{ entries: Array<{ key: string; value: string }>; root: string }>(
    DOC,
    'state-tree-3',
  );
  const tree = StateTree.fromEntries(tree3.entries.map((e) => [e.key, fromHex(e.value)]));

  it('key path, empty root, single leaf and the three-record tree', () => {
    const kp = docVector<{ key: string; path: string }>(DOC, 'state-key-path');
    expect(toHex(keyPath(kp.key))).toBe(kp.path);
    expect(toHex(StateTree.empty().root())).toBe(docVector<{ root: string }>(DOC, 'state-empty').root);
    const s = docVector<{ key: string; value: string; value_hash: string; leaf_hash: string; root: string }>(
      DOC,
      'state-single',
    );
    const v = fromHex(s.value);
    expect(toHex(valueHash(v))).toBe(s.value_hash);
    expect(toHex(leafHash(keyPath(s.key), valueHash(v)))).toBe(s.leaf_hash);
    expect(toHex(StateTree.fromEntries([[s.key, v]]).root())).toBe(s.root);
    expect(toHex(tree.root())).toBe(tree3.root);
    expect(toHex(referenceRoot(new Map(tree3.entries.map((e) => [e.key, fromHex(e.value)]))))).toBe(
      tree3.root,
    );
  });

  for (const name of ['state-proof-inclusion', 'state-proof-absent-leaf', 'state-proof-absent-empty']) {
    it(`proof vector ${name}`, () => {
      const vec = docVector<ProofVector>(DOC, name);
      expect(vec.root).toBe(tree3.root);
      const proof: StateProof = {
        depth: vec.proof.depth,
        bitmap: fromHex(vec.proof.bitmap),
        siblings: vec.proof.siblings.map(fromHex),
        leaf: vec.proof.leaf && {
          path: fromHex(vec.proof.leaf.path),
          value_hash: fromHex(vec.proof.leaf.value_hash),
        },
      };
      expect(tree.prove(vec.key)).toEqual(proof);
      expect(toHex(encode(proof))).toBe(vec.proof_cbor);
      const val = vec.value === null ? null : fromHex(vec.value);
      expect(verifyStateProof(fromHex(vec.root), vec.key, val, proof)).toBe(true);
      expect(
        verifyStateProof(fromHex(vec.root), vec.key, val, decode(fromHex(vec.proof_cbor)) as StateProof),
      ).toBe(true);
    });
  }
});

describe('StateTree performance', () => {
  it('updates 3,000 keys of a 20k-record tree in well under a second', () => {
    // The real figure (100k records) comes from `npm run bench -- state-tree`; this is a smoke bound
    // that holds on a loaded CI machine.
    const tree = StateTree.fromEntries(
      Array.from({ length: 20_000 }, (_, i): [string, Uint8Array] => [`account/${i}`, value(i)]),
    );
    const changes = new Map<string, Uint8Array | null>();
    for (let i = 0; i < 3000; i++) changes.set(`account/${(i * 7) % 25_000}`, value(i, 1));
    const t0 = performance.now();
    const next = tree.withChanges(changes);
    const ms = performance.now() - t0;
    expect(next.size()).toBe(
      20_000 + [...changes.keys()].filter((k) => Number(k.split('/')[1]) >= 20_000).length,
    );
    expect(ms).toBeLessThan(1000);
  });
});
