import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  encryptionKeysFromSeed,
  generateHybridKemKeyPair,
  recoveryPhraseToSeed,
  newRecoveryPhrase,
} from '@self/crypto';
import { afterAll, describe, expect, it } from 'vitest';
import {
  VaultError,
  generateDataKey,
  generateHostKey,
  readKeyFile,
  unlockWithHostKey,
  unlockWithPersonKey,
  wrapDataKey,
  writeKeyFile,
} from '../src/vault.js';
import { thrown } from './fixtures/thrown.js';

const dir = mkdtempSync(join(tmpdir(), 'self-vault-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const codeOf = (fn: () => unknown): string => thrown(VaultError, fn).code;

describe('the data key vault', () => {
  // The person's encryption keys come from their recovery phrase, on their device.
  const person = encryptionKeysFromSeed(recoveryPhraseToSeed(newRecoveryPhrase()));
  const dataKey = generateDataKey();
  const hostKey = generateHostKey();

  it('always-on: the host and the person each unwrap the same data key; the file round-trips', () => {
    const file = wrapDataKey({
      instanceId: 'i-1',
      dataKey,
      mode: 'always-on',
      personPublicKey: person.publicKey,
      hostKey,
    });
    writeKeyFile(dir, file);
    expect(statSync(join(dir, 'keys.json')).mode & 0o777).toBe(0o600);
    const read = readKeyFile(dir);
    expect(read).toEqual(file);
    expect(unlockWithHostKey(read, hostKey)).toEqual(dataKey);
    expect(unlockWithPersonKey(read, person.secretKey)).toEqual(dataKey);
    // The key file never holds the data key in the clear.
    expect(readFileSync(join(dir, 'keys.json'), 'utf8')).not.toContain(
      Buffer.from(dataKey).toString('base64url'),
    );
  });

  it('sovereign: no host wrap; the host cannot unlock, the person can', () => {
    const file = wrapDataKey({
      instanceId: 'i-2',
      dataKey,
      mode: 'sovereign',
      personPublicKey: person.publicKey,
    });
    expect(file.host).toBeUndefined();
    expect(codeOf(() => unlockWithHostKey(file, hostKey))).toBe('locked');
    expect(unlockWithPersonKey(file, person.secretKey)).toEqual(dataKey);
  });

  it('refuses wrong keys, altered files and a wrapping moved to another instance', () => {
    const file = wrapDataKey({
      instanceId: 'i-3',
      dataKey,
      mode: 'always-on',
      personPublicKey: person.publicKey,
      hostKey,
    });
    expect(codeOf(() => unlockWithHostKey(file, generateHostKey()))).toBe('wrong_key');
    expect(codeOf(() => unlockWithPersonKey(file, generateHybridKemKeyPair().secretKey))).toBe('wrong_key');
    const moved = { ...file, instance_id: 'i-4' };
    expect(codeOf(() => unlockWithHostKey(moved, hostKey))).toBe('wrong_key');
    expect(codeOf(() => unlockWithPersonKey(moved, person.secretKey))).toBe('wrong_key');
    const flipped = Buffer.from(file.host!, 'base64url');
    flipped[flipped.length - 1]! ^= 1;
    expect(codeOf(() => unlockWithHostKey({ ...file, host: flipped.toString('base64url') }, hostKey))).toBe(
      'wrong_key',
    );
    expect(
      codeOf(() =>
        wrapDataKey({ instanceId: 'x', dataKey, mode: 'always-on', personPublicKey: person.publicKey }),
      ),
    ).toBe('no_host_wrap');
  });

  it('rejects a missing, malformed or foreign key file with a message that says what it expected', () => {
    const empty = mkdtempSync(join(dir, 'empty-'));
    expect(codeOf(() => readKeyFile(empty))).toBe('bad_key_file');
    writeFileSync(join(empty, 'keys.json'), '{not json');
    expect(codeOf(() => readKeyFile(empty))).toBe('bad_key_file');
    writeFileSync(
      join(empty, 'keys.json'),
      JSON.stringify({ v: 2, instance_id: 'x', mode: 'always-on', person: '' }),
    );
    expect(() => readKeyFile(empty)).toThrow(/version 1/);
  });
});
