import { createCipheriv, createDecipheriv, randomBytes, scrypt as scryptCallback } from 'node:crypto';
import { join } from 'node:path';
import {
  accountKeysFromPhrase,
  isAddress,
  isValidRecoveryPhrase,
  normalizePhrase,
  type AccountScheme,
} from '@self/crypto';
import { CliError } from '../errors.js';
import { IDENTITY_FILE, ensureHome, readTextIfExists, writeFileAtomic } from './home.js';

/**
 * `identity.json`: the person's recovery phrase, encrypted with a passphrase, plus the public facts
 * a command needs before unlocking it (DID, address, which server the account lives on).
 *
 *   {"v":1,"did":"did:self:…","address":"self1…","scheme":"hybrid-ed25519-ml-dsa-65",
 *    "server":"http://127.0.0.1:8080","created_at":<ms>,
 *    "key":{"kdf":"scrypt","N":32768,"r":8,"p":1,"salt":"<base64url 16 B>",
 *           "alg":"aes-256-gcm","nonce":"<base64url 12 B>","ciphertext":"<base64url phrase ‖ 16 B tag>"}}
 *
 * key = scrypt(passphrase (UTF-8, NFC), salt, N, r, p, 32 bytes). The parameters live in the file
 * so that a later version can raise them without breaking existing files. Every other field is
 * authenticated as AES-GCM associated data (identityAad): editing the DID, the address or the
 * server (which would redirect sign-ins and their signatures elsewhere) makes the file fail to
 * open, exactly like a wrong passphrase.
 */
export const IDENTITY_FILE_VERSION = 1 as const;

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/** ~200 ms and 32 MiB on a 2-core CI machine (2024 x86-64); measured when this was chosen. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 1 << 15, r: 8, p: 1 };

/**
 * What a file may ask for before it is refused unread: a hostile file must not be able to make
 * the CLI allocate gigabytes or spin for minutes.
 */
const SCRYPT_LIMITS = { maxN: 1 << 20, maxR: 32, maxP: 16, maxMemBytes: 1 << 30 };

const SALT_BYTES = 16;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const AAD_LABEL = 'self-identity-file-v1';

export interface IdentityKeyBox {
  kdf: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
  alg: 'aes-256-gcm';
  nonce: string;
  ciphertext: string;
}

export interface IdentityFile {
  v: typeof IDENTITY_FILE_VERSION;
  did: string;
  address: string;
  scheme: AccountScheme;
  /** The SELF cloud this identity signed up with; the default server of every command. */
  server: string;
  created_at: number;
  key: IdentityKeyBox;
}

export interface NewIdentityFileInput {
  phrase: string;
  passphrase: string;
  scheme: AccountScheme;
  server: string;
  createdAt?: number;
  scrypt?: ScryptParams;
}

export function identityPath(home: string): string {
  return join(home, IDENTITY_FILE);
}

/** The associated data: every field but the ciphertext, in a fixed order. */
export function identityAad(
  f: Omit<IdentityFile, 'key'> & { key: Omit<IdentityKeyBox, 'ciphertext'> },
): Buffer {
  const k = f.key;
  return Buffer.from(
    JSON.stringify([
      AAD_LABEL,
      f.v,
      f.did,
      f.address,
      f.scheme,
      f.server,
      f.created_at,
      k.kdf,
      k.N,
      k.r,
      k.p,
      k.salt,
      k.alg,
      k.nonce,
    ]),
    'utf8',
  );
}

function scryptMem({ N, r, p }: ScryptParams): number {
  // Node's own estimate (128·N·r plus 128·r·p), with headroom.
  return 128 * N * r + 128 * r * p + (1 << 20);
}

function deriveKey(passphrase: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(
      Buffer.from(passphrase.normalize('NFC'), 'utf8'),
      salt,
      KEY_BYTES,
      { ...params, maxmem: scryptMem(params) },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}

/** Encrypts the phrase into a new identity record (nothing is written). */
export async function sealIdentity(input: NewIdentityFileInput): Promise<IdentityFile> {
  if (input.passphrase.length === 0) throw new CliError('the passphrase must not be empty', 2);
  const phrase = normalizePhrase(input.phrase);
  if (!isValidRecoveryPhrase(phrase)) throw new CliError('not a valid 24-word recovery phrase', 2);
  const { address, did } = accountKeysFromPhrase(phrase, input.scheme);
  const params = input.scrypt ?? DEFAULT_SCRYPT;
  checkScrypt(params, 'the requested');
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  const header = {
    v: IDENTITY_FILE_VERSION,
    did,
    address,
    scheme: input.scheme,
    server: input.server,
    created_at: input.createdAt ?? Date.now(),
    key: {
      kdf: 'scrypt' as const,
      N: params.N,
      r: params.r,
      p: params.p,
      salt: salt.toString('base64url'),
      alg: 'aes-256-gcm' as const,
      nonce: nonce.toString('base64url'),
    },
  };
  const key = await deriveKey(input.passphrase, salt, params);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(identityAad(header));
  const ciphertext = Buffer.concat([cipher.update(phrase, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  key.fill(0);
  return { ...header, key: { ...header.key, ciphertext: ciphertext.toString('base64url') } };
}

/**
 * The recovery phrase inside a record. A wrong passphrase and an altered file look the same to
 * AES-GCM; both are one CliError saying what to do.
 */
export async function openIdentity(
  file: IdentityFile,
  passphrase: string,
  where = IDENTITY_FILE,
): Promise<string> {
  if (passphrase.length === 0) throw new CliError('the passphrase must not be empty', 2);
  const k = file.key;
  const salt = Buffer.from(k.salt, 'base64url');
  const nonce = Buffer.from(k.nonce, 'base64url');
  const sealed = Buffer.from(k.ciphertext, 'base64url');
  const key = await deriveKey(passphrase, salt, { N: k.N, r: k.r, p: k.p });
  let phrase: string;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(identityAad(file));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    phrase = Buffer.concat([
      decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    throw new CliError(
      `cannot unlock ${where}: wrong passphrase, or the file was altered.\n` +
        '  hint: try again (the passphrase comes from $SELF_PASSPHRASE, else a prompt); if the passphrase is lost, ' +
        'move the identity file away and restore it from the recovery phrase with `self login --recover`',
    );
  } finally {
    key.fill(0);
  }
  // Only someone holding the passphrase could have sealed a different phrase under this header.
  if (!isValidRecoveryPhrase(phrase) || accountKeysFromPhrase(phrase, file.scheme).address !== file.address) {
    throw new CliError(`${where} holds a recovery phrase that does not match its address ${file.address}`);
  }
  return phrase;
}

function checkScrypt({ N, r, p }: ScryptParams, whose: string): void {
  const ok =
    Number.isSafeInteger(N) &&
    N >= 2 &&
    N <= SCRYPT_LIMITS.maxN &&
    (N & (N - 1)) === 0 &&
    Number.isSafeInteger(r) &&
    r >= 1 &&
    r <= SCRYPT_LIMITS.maxR &&
    Number.isSafeInteger(p) &&
    p >= 1 &&
    p <= SCRYPT_LIMITS.maxP &&
    scryptMem({ N, r, p }) <= SCRYPT_LIMITS.maxMemBytes;
  if (!ok) throw new CliError(`${whose} scrypt parameters (N=${N}, r=${r}, p=${p}) are out of range`);
}

const B64URL_RE = /^[A-Za-z0-9_-]*$/;

function isB64url(v: unknown, bytes?: number): v is string {
  if (typeof v !== 'string' || !B64URL_RE.test(v)) return false;
  return bytes === undefined || Buffer.from(v, 'base64url').length === bytes;
}

/** Validates the shape of a parsed identity file; throws a CliError naming the file. */
export function parseIdentityFile(text: string, where: string): IdentityFile {
  const bad = (why: string): CliError =>
    new CliError(
      `${where} is not a SELF identity file (${why}).\n` +
        '  hint: restore it from a backup, or recover this device with `self login --recover` after moving it away',
    );
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('not an object');
  const o = v as Record<string, unknown>;
  if (o.v !== IDENTITY_FILE_VERSION)
    throw bad(`unknown version ${JSON.stringify(o.v)}; a newer self may read it`);
  if (typeof o.did !== 'string' || !o.did.startsWith('did:self:')) throw bad('no did');
  if (typeof o.address !== 'string' || !isAddress(o.address)) throw bad('no address');
  if (o.scheme !== 'hybrid-ed25519-ml-dsa-65' && o.scheme !== 'ed25519') throw bad('unknown scheme');
  if (typeof o.server !== 'string') throw bad('no server');
  if (typeof o.created_at !== 'number' || !Number.isSafeInteger(o.created_at)) throw bad('no created_at');
  const k = o.key;
  if (typeof k !== 'object' || k === null || Array.isArray(k)) throw bad('no key');
  const key = k as Record<string, unknown>;
  if (key.kdf !== 'scrypt' || key.alg !== 'aes-256-gcm') throw bad('unknown kdf or cipher');
  if (typeof key.N !== 'number' || typeof key.r !== 'number' || typeof key.p !== 'number')
    throw bad('no scrypt parameters');
  checkScrypt({ N: key.N, r: key.r, p: key.p }, `${where}'s`);
  if (!isB64url(key.salt, SALT_BYTES) || !isB64url(key.nonce, NONCE_BYTES) || !isB64url(key.ciphertext))
    throw bad('malformed salt, nonce or ciphertext');
  if (Buffer.from(key.ciphertext, 'base64url').length <= TAG_BYTES) throw bad('ciphertext too short');
  return {
    v: IDENTITY_FILE_VERSION,
    did: o.did,
    address: o.address,
    scheme: o.scheme,
    server: o.server,
    created_at: o.created_at,
    key: {
      kdf: 'scrypt',
      N: key.N,
      r: key.r,
      p: key.p,
      salt: key.salt,
      alg: 'aes-256-gcm',
      nonce: key.nonce,
      ciphertext: key.ciphertext,
    },
  };
}

/** The serialized form: stable field order, two-space indent, final newline. */
export function serializeIdentityFile(file: IdentityFile): string {
  return `${JSON.stringify(
    {
      v: file.v,
      did: file.did,
      address: file.address,
      scheme: file.scheme,
      server: file.server,
      created_at: file.created_at,
      key: {
        kdf: file.key.kdf,
        N: file.key.N,
        r: file.key.r,
        p: file.key.p,
        salt: file.key.salt,
        alg: file.key.alg,
        nonce: file.key.nonce,
        ciphertext: file.key.ciphertext,
      },
    },
    null,
    2,
  )}\n`;
}

/** The identity in `home`, or null when this device has none. */
export function readIdentityFile(home: string): IdentityFile | null {
  const path = identityPath(home);
  const text = readTextIfExists(path);
  return text === null ? null : parseIdentityFile(text, path);
}

/** Writes (atomically, 0600 in a 0700 home) the identity file. */
export function writeIdentityFile(home: string, file: IdentityFile): string {
  ensureHome(home);
  const path = identityPath(home);
  writeFileAtomic(path, serializeIdentityFile(file));
  return path;
}
