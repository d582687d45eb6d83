import { entropyToMnemonic } from '@scure/bip39';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../src/bytes.js';
import {
  isValidRecoveryPhrase,
  newRecoveryPhrase,
  normalizePhrase,
  recoveryPhraseToSeed,
} from '../src/mnemonic.js';
import { ABANDON_PHRASE, expectCryptoError } from './fixtures.js';

// The official BIP39 vectors (trezor/python-mnemonic vectors.json), 256-bit entropy, passphrase "TREZOR".
const TREZOR_24 = [
  {
    entropy: '0000000000000000000000000000000000000000000000000000000000000000',
    phrase: ABANDON_PHRASE,
    seed: 'bda85446c68413707090a52022edd26a1c9462295029f2e60cd7c4f2bbd3097170af7a4d73245cafa9c3cca8d561a7c3de6f5d4a10be8ed2a5e608d68f92fcc8',
  },
  {
    entropy: '7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f',
    phrase:
      'legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth useful legal winner thank year wave sausage worth title',
    seed: 'bc09fca1804f7e69da93c2f2028eb238c227f2e9dda30cd63699232578480a4021b146ad717fbb7e451ce9eb835f43620bf5c514db0f8add49f5d121449d3e87',
  },
  {
    entropy: '8080808080808080808080808080808080808080808080808080808080808080',
    phrase:
      'letter advice cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic bless',
    seed: 'c0c519bd0e91a2ed54357d9d1ebef6f5af218a153624cf4f2da911a0ed8f7a09e2ef61af0aca007096df430022f7a2b6fb91661a9589097069720d015e4e982f',
  },
  {
    entropy: 'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
    phrase: `${'zoo '.repeat(23)}vote`,
    seed: 'dd48c104698c30cfe2b6142103248622fb7bb0ff692eebb00089b32d22484e1613912f0a5b694407be899ffd31ed3992c456cdf60f5d4564b8ba3f05a69890ad',
  },
];

describe('recovery phrase (BIP39)', () => {
  for (const v of TREZOR_24) {
    it(`TREZOR vector ${v.entropy.slice(0, 8)}…: entropy → phrase → seed`, () => {
      expect(entropyToMnemonic(fromHex(v.entropy), wordlist)).toBe(v.phrase);
      expect(isValidRecoveryPhrase(v.phrase)).toBe(true);
      expect(toHex(recoveryPhraseToSeed(v.phrase, 'TREZOR'))).toBe(v.seed);
    });
  }

  it('tolerates case and spacing, as people type phrases', () => {
    const messy = `  ${ABANDON_PHRASE.toUpperCase().replaceAll(' ', ' \t ')}\n`;
    expect(normalizePhrase(messy)).toBe(ABANDON_PHRASE);
    expect(recoveryPhraseToSeed(messy)).toEqual(recoveryPhraseToSeed(ABANDON_PHRASE));
  });

  it('rejects a bad checksum or an unknown word with a typed error that does not echo the words', () => {
    const badChecksum = `${'abandon '.repeat(23)}abandon`;
    const unknownWord = `${'abandon '.repeat(23)}selfie`;
    for (const phrase of [badChecksum, unknownWord]) {
      expect(isValidRecoveryPhrase(phrase)).toBe(false);
      const error = expectCryptoError(() => recoveryPhraseToSeed(phrase), 'bad_phrase');
      expect(error.message).not.toContain('abandon');
    }
  });

  it('generates valid, distinct 24-word phrases', () => {
    const a = newRecoveryPhrase();
    const b = newRecoveryPhrase();
    expect(a.split(' ')).toHaveLength(24);
    expect(isValidRecoveryPhrase(a)).toBe(true);
    expect(a).not.toBe(b);
  });
});
