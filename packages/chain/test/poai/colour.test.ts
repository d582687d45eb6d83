import { describe, expect, it } from 'vitest';
import { fromHex, sha256, toHex, u32be } from '@self/crypto';
import type { ColourTransition } from '../../src/types.js';
import {
  checkColourTransitions,
  COLOUR_MODULUS,
  colourHex,
  colourRoot,
  deriveColourTransitions,
  hexTx,
  nextColour,
  parseColour,
} from '../../src/poai/index.js';
import { docVector } from '../../../../scripts/doc-vectors.js';

const DOC = 'docs/protocol/poai.md';

interface ColourVector {
  hex_tx: { tx_hash: string; hex_tx: string }[];
  chain: { address: string; start: string; transitions: { tx_hash: string; from: string; to: string }[] };
  wrap: { current: string; tx_hash: string; next: string };
  colour_root: string;
  colour_root_empty: string;
}

describe('colour vectors', () => {
  const v = docVector<ColourVector>(DOC, 'colour');

  it('hexTx', () => {
    for (const c of v.hex_tx) expect(colourHex(hexTx(fromHex(c.tx_hash)))).toBe(c.hex_tx);
  });

  it('chain of three transactions from one fresh account, and the root', () => {
    const txs = v.chain.transitions.map((t) => ({ sender: v.chain.address, hash: fromHex(t.tx_hash) }));
    const got = deriveColourTransitions(txs, () => parseColour(v.chain.start));
    expect(
      got.map((t) => ({ tx_hash: toHex(t.tx_hash), from: colourHex(t.from), to: colourHex(t.to) })),
    ).toEqual(v.chain.transitions);
    expect(got.every((t) => t.address === v.chain.address)).toBe(true);
    expect(toHex(colourRoot(got))).toBe(v.colour_root);
    expect(toHex(colourRoot([]))).toBe(v.colour_root_empty);
  });

  it('wraps modulo 0x1000000', () => {
    expect(colourHex(nextColour(parseColour(v.wrap.current), fromHex(v.wrap.tx_hash)))).toBe(v.wrap.next);
  });
});

describe('colour behaviour', () => {
  it('stays a 24-bit integer and is deterministic', () => {
    let c = 0;
    for (let i = 0; i < 500; i++) {
      const h = sha256(u32be(i));
      const n = nextColour(c, h);
      expect(Number.isSafeInteger(n) && n >= 0 && n < COLOUR_MODULUS).toBe(true);
      expect(n).toBe(nextColour(c, h));
      expect((n - c - hexTx(h) + 2 * COLOUR_MODULUS) % COLOUR_MODULUS).toBe(0);
      c = n;
    }
  });

  it('only senders change colour; a sender chains within a block', () => {
    const colours = new Map([
      ['a', 5],
      ['b', 7],
    ]);
    const h = [sha256(u32be(1)), sha256(u32be(2)), sha256(u32be(3))];
    const t = deriveColourTransitions(
      [
        { sender: 'a', hash: h[0]! },
        { sender: 'b', hash: h[1]! },
        { sender: 'a', hash: h[2]! },
      ],
      (a) => colours.get(a) ?? 0,
    );
    expect(t.map((x) => x.address)).toEqual(['a', 'b', 'a']);
    expect(t[0]!.from).toBe(5);
    expect(t[2]!.from).toBe(t[0]!.to);
    expect(t[1]!.from).toBe(7);
  });

  it('hex form is canonical', () => {
    expect(colourHex(0)).toBe('000000');
    expect(colourHex(0xffffff)).toBe('ffffff');
    expect(parseColour('00a0ff')).toBe(0x00a0ff);
    for (const bad of ['FFFFFF', 'fffff', '1000000', '0x1234', 'gggggg', ' 00000']) {
      expect(() => parseColour(bad)).toThrow(TypeError);
    }
    for (const bad of [-1, COLOUR_MODULUS, 1.5, Number.NaN]) expect(() => colourHex(bad)).toThrow(RangeError);
    expect(() => nextColour(COLOUR_MODULUS, new Uint8Array(32))).toThrow(RangeError);
  });

  it('checkColourTransitions reports the first difference', () => {
    const mk = (i: number): ColourTransition => ({
      address: `a${i}`,
      from: i,
      to: i + 1,
      tx_hash: sha256(u32be(i)),
    });
    const expected = [mk(1), mk(2), mk(3)];
    expect(
      checkColourTransitions(
        expected,
        expected.map((t) => ({ ...t })),
      ),
    ).toBeNull();
    expect(
      checkColourTransitions(expected, [mk(1), { ...mk(2), to: 9 }, { ...mk(3), from: 0 }]),
    ).toMatchObject({
      index: 1,
      reason: 'to',
    });
    expect(checkColourTransitions(expected, [mk(1), { ...mk(2), address: 'z', from: 0 }])?.reason).toBe(
      'address',
    );
    expect(checkColourTransitions(expected, [mk(1), { ...mk(2), tx_hash: sha256(u32be(9)) }])?.reason).toBe(
      'tx_hash',
    );
    expect(checkColourTransitions(expected, [mk(1), { ...mk(2), from: 0 }])?.reason).toBe('from');
    expect(checkColourTransitions(expected, [mk(1), mk(2)])).toMatchObject({ index: 2, reason: 'missing' });
    expect(checkColourTransitions(expected, [...expected, mk(4)])).toMatchObject({
      index: 3,
      reason: 'extra',
    });
  });

  it('the root commits to order', () => {
    const a: ColourTransition = { address: 'x', from: 0, to: 1, tx_hash: new Uint8Array([1]) };
    const b: ColourTransition = { address: 'y', from: 0, to: 2, tx_hash: new Uint8Array([2]) };
    expect(toHex(colourRoot([a, b]))).not.toBe(toHex(colourRoot([b, a])));
  });
});
