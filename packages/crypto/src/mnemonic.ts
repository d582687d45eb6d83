import { generateMnemonic, mnemonicToSeedSync, validateMnemonic } from '@scure/bip39';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import { CryptoError } from './errors.js';

/** A new 24-word BIP39 phrase (256 bits of entropy) from the platform CSPRNG. */
export function newRecoveryPhrase(): string {
  return generateMnemonic(wordlist, 256);
}

export function isValidRecoveryPhrase(phrase: string): boolean {
  return validateMnemonic(normalizePhrase(phrase), wordlist);
}

/** NFKD (as BIP39 requires), lowercase, single spaces: tolerant of how people type or paste. */
export function normalizePhrase(phrase: string): string {
  return phrase.normalize('NFKD').trim().toLowerCase().split(/\s+/).join(' ');
}

/**
 * BIP39 seed (PBKDF2-HMAC-SHA512, 2048 rounds, salt "mnemonic" || passphrase). Throws
 * CryptoError('bad_phrase') on an unknown word or a failing checksum; the words are never echoed.
 */
export function recoveryPhraseToSeed(phrase: string, passphrase = ''): Uint8Array {
  const normalized = normalizePhrase(phrase);
  if (!validateMnemonic(normalized, wordlist)) {
    throw new CryptoError('bad_phrase', 'invalid recovery phrase: check the words and their order');
  }
  return mnemonicToSeedSync(normalized, passphrase);
}
