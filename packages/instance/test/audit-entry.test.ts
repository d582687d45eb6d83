import { describe, expect, it } from 'vitest';
import { encode as cborEncode } from '@self/chain';
import { fromHex, sha256, toHex, utf8 } from '@self/crypto';
import {
  AUDIT_ENTRY_DOMAIN,
  AUDIT_GENESIS_PREV,
  AuditError,
  type AuditEntry,
  decodeEntry,
  encodeEntry,
  entryFromJson,
  entryHash,
  entryToJson,
  validateEntry,
} from '../src/audit/index.js';
import { thrown } from './fixtures/thrown.js';

const DID = 'did:self:self1an7vlu828np0u2pwmvzc78xl0sgfsl90ydahh5';

function sample(over: Partial<AuditEntry> = {}): AuditEntry {
  return {
    seq: 7,
    time: 1767225600000,
    actor: DID,
    app: 'app_6282171a8f023de77c169bd15cb9e9f2',
    scope: 'storage:notes:read',
    action: 'data.get',
    object: 'notes/today',
    outcome: 'ok',
    prev: new Uint8Array(32).fill(0x5a),
    ...over,
  };
}

const auditError = (fn: () => unknown): AuditError => thrown(AuditError, fn);

describe('audit entry encoding', () => {
  it('round-trips and re-encodes to the same bytes', () => {
    for (const e of [
      sample(),
      sample({ seq: 1, actor: 'person', app: null, prev: AUDIT_GENESIS_PREV }),
      sample({ object: '', outcome: 'denied' }),
      sample({ object: 'files/résumé 📄.pdf', outcome: 'error', time: 0 }),
      sample({ seq: Number.MAX_SAFE_INTEGER, time: Number.MAX_SAFE_INTEGER }),
    ]) {
      const bytes = encodeEntry(e);
      const back = decodeEntry(bytes);
      expect(back).toEqual(e);
      expect(toHex(encodeEntry(back))).toBe(toHex(bytes));
      // Property order of the input object does not matter.
      const shuffled = Object.fromEntries(Object.entries(e).reverse()) as unknown as AuditEntry;
      expect(toHex(encodeEntry(shuffled))).toBe(toHex(bytes));
    }
  });

  it('puts map keys in canonical order (length first, then bytewise)', () => {
    const bytes = encodeEntry(sample());
    const text = Buffer.from(bytes).toString('latin1');
    const keys = ['v', 'app', 'seq', 'prev', 'time', 'actor', 'scope', 'action', 'object', 'outcome'];
    const positions = keys.map((k) => text.indexOf(String.fromCharCode(0x60 + k.length) + k));
    expect(positions.every((p) => p > 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(bytes[0]).toBe(0xaa); // a map of ten pairs
  });

  it('ignores extra properties of the input object', () => {
    const extra = { ...sample(), note: 'not encoded' } as AuditEntry;
    expect(toHex(encodeEntry(extra))).toBe(toHex(encodeEntry(sample())));
  });

  it('entryHash is SHA-256(domain ‖ 0x00 ‖ encoding)', () => {
    const e = sample();
    expect(AUDIT_ENTRY_DOMAIN).toBe('self-audit-entry-v1');
    const expected = sha256(utf8('self-audit-entry-v1'), new Uint8Array([0]), encodeEntry(e));
    expect(toHex(entryHash(e))).toBe(toHex(expected));
    expect(toHex(entryHash(sample({ outcome: 'denied' })))).not.toBe(toHex(expected));
  });

  it('decodes only canonical encodings of valid entries', () => {
    const good = encodeEntry(sample({ seq: 1 }));
    const hex = toHex(good);
    // seq 1 as a one-byte head (0x01) rewritten with a needless extra byte (0x18 0x01).
    expect(hex).toContain('6373657101'); // text "seq", then 0x01
    const nonCanonical = fromHex(hex.replace('6373657101', '637365711801'));
    expect(auditError(() => decodeEntry(nonCanonical)).code).toBe('malformed_entry');
    expect(auditError(() => decodeEntry(good.subarray(0, good.length - 1))).code).toBe('malformed_entry');
    expect(auditError(() => decodeEntry(new Uint8Array([...good, 0x00]))).code).toBe('malformed_entry');
    expect(auditError(() => decodeEntry(new Uint8Array(9000))).code).toBe('malformed_entry');

    const plain = { v: 1, ...entryToJson(sample()), prev: sample().prev };
    const withExtra = cborEncode({ ...plain, extra: 1 });
    expect(auditError(() => decodeEntry(withExtra)).code).toBe('malformed_entry');
    const { outcome: _outcome, ...missing } = plain;
    expect(auditError(() => decodeEntry(cborEncode(missing))).code).toBe('malformed_entry');
    expect(auditError(() => decodeEntry(cborEncode({ ...plain, v: 2 }))).code).toBe('malformed_entry');
    const badField = auditError(() => decodeEntry(cborEncode({ ...plain, outcome: 'maybe' })));
    expect(badField.code).toBe('malformed_entry');
    expect(badField.details.field).toBe('outcome');
    expect(auditError(() => decodeEntry(cborEncode([1, 2, 3]))).code).toBe('malformed_entry');
    expect(decodeEntry(cborEncode(plain))).toEqual(sample());
  });
});

describe('audit entry validation', () => {
  const cases: Array<[string, Partial<AuditEntry> | Record<string, unknown>]> = [
    ['seq', { seq: 0 }],
    ['seq', { seq: 1.5 }],
    ['seq', { seq: Number.MAX_SAFE_INTEGER + 1 }],
    ['time', { time: -1 }],
    ['time', { time: 1.25 }],
    ['time', { time: '2026' }],
    ['actor', { actor: 'alice' }],
    ['actor', { actor: 'did:self:' }],
    ['actor', { actor: 'did:SELF:abc' }],
    ['actor', { actor: `did:self:${'a'.repeat(248)}` }],
    ['actor', { actor: '' }],
    ['app', { app: '' }],
    ['app', { app: 'app with space' }],
    ['app', { app: 'a'.repeat(129) }],
    ['app', { app: undefined }],
    ['scope', { scope: '' }],
    ['scope', { scope: 'storage notes' }],
    ['scope', { scope: 's'.repeat(129) }],
    ['action', { action: 'Data.Get' }],
    ['action', { action: 'data..get' }],
    ['action', { action: '' }],
    ['action', { action: `a${'.b'.repeat(32)}` }],
    ['object', { object: 'x'.repeat(1025) }],
    ['object', { object: 'bad \ud800 surrogate' }],
    ['object', { object: null }],
    ['outcome', { outcome: 'OK' }],
    ['prev', { prev: new Uint8Array(31) }],
    ['prev', { prev: '00'.repeat(32) }],
  ];

  for (const [field, over] of cases) {
    it(`refuses ${field} = ${JSON.stringify(Object.values(over)[0])?.slice(0, 40) ?? 'undefined'}`, () => {
      const err = auditError(() => validateEntry({ ...sample(), ...over } as AuditEntry));
      expect(err.code).toBe('invalid_entry');
      expect(err.details.field).toBe(field);
      expect(err.message).toContain(field);
      expect(auditError(() => encodeEntry({ ...sample(), ...over } as AuditEntry)).code).toBe(
        'invalid_entry',
      );
    });
  }

  it('accepts the bounds', () => {
    expect(() => validateEntry(sample({ object: 'x'.repeat(1024) }))).not.toThrow();
    expect(() => validateEntry(sample({ actor: `did:self:${'a'.repeat(247)}` }))).not.toThrow();
    expect(() => validateEntry(sample({ actor: 'did:web:example.com:user%20one' }))).not.toThrow();
    expect(() => validateEntry(sample({ app: 'a'.repeat(128), scope: 's'.repeat(128) }))).not.toThrow();
    expect(() => validateEntry(sample({ action: `a${'.b'.repeat(31)}c` }))).not.toThrow();
    expect(() => validateEntry(sample({ object: '📄'.repeat(512) }))).not.toThrow();
  });

  it('refuses a non-object', () => {
    expect(auditError(() => validateEntry(null as unknown as AuditEntry)).code).toBe('invalid_entry');
  });
});

describe('audit entry JSON', () => {
  it('round-trips with prev as hex', () => {
    const e = sample();
    const json = entryToJson(e);
    expect(json.prev).toBe('5a'.repeat(32));
    expect(entryFromJson(JSON.parse(JSON.stringify(json)))).toEqual(e);
  });

  it('refuses bad JSON fields', () => {
    const json = entryToJson(sample());
    expect(auditError(() => entryFromJson({ ...json, prev: 'AB'.repeat(32) })).details.field).toBe('prev');
    expect(auditError(() => entryFromJson({ ...json, prev: '00' })).details.field).toBe('prev');
    expect(auditError(() => entryFromJson({ ...json, seq: '7' })).details.field).toBe('seq');
    expect(auditError(() => entryFromJson('entry')).code).toBe('invalid_entry');
  });
});
