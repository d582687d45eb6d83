import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CryptoError, open, openWithSecretKey, seal, sealToPublicKey, utf8 } from '@self/crypto';

/**
 * The instance's data key and how it is kept (design §3). The key is random; it is wrapped
 * (a) to the person's hybrid encryption key (X25519 + ML-KEM-768, a sealed box), so the recovery
 * phrase alone can always recover it, and (b) in always-on mode also by the host's sealing key
 * (an AEAD envelope), so apps and the AI work while the person is offline. Sovereign mode keeps
 * only (a): the instance stays locked until the person's device unwraps the key for a session.
 * Both wrappings bind the instance id, so a wrapped key cannot be moved to another instance.
 */
export type KeyMode = 'always-on' | 'sovereign';

export const DATA_KEY_BYTES = 32;
export const HOST_KEY_BYTES = 32;
export const KEY_FILE = 'keys.json';
const KEY_FILE_VERSION = 1;
const WRAP_CONTEXT = 'self-instance-data-key-v1';

export interface KeyFile {
  v: 1;
  instance_id: string;
  mode: KeyMode;
  /** Sealed box to the person's hybrid encryption public key, base64url. */
  person: string;
  /** AEAD envelope under the host sealing key, base64url; absent in sovereign mode. */
  host?: string;
}

export class VaultError extends Error {
  constructor(
    readonly code: 'locked' | 'bad_key_file' | 'wrong_key' | 'no_host_wrap',
    message: string,
  ) {
    super(message);
    this.name = 'VaultError';
  }
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');
const unb64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'base64url'));
const aad = (instanceId: string): Uint8Array => utf8(`${WRAP_CONTEXT}|${instanceId}`);

export function generateDataKey(): Uint8Array {
  return new Uint8Array(randomBytes(DATA_KEY_BYTES));
}

/** A host sealing key: kept by the operator (a file readable only by the service user, or a KMS). */
export function generateHostKey(): Uint8Array {
  return new Uint8Array(randomBytes(HOST_KEY_BYTES));
}

/** Wraps a data key for an instance; the host key is required in always-on mode and unused otherwise. */
export function wrapDataKey(opts: {
  instanceId: string;
  dataKey: Uint8Array;
  mode: KeyMode;
  personPublicKey: Uint8Array;
  hostKey?: Uint8Array;
}): KeyFile {
  if (opts.dataKey.length !== DATA_KEY_BYTES) throw new VaultError('wrong_key', 'a data key is 32 bytes');
  const file: KeyFile = {
    v: KEY_FILE_VERSION,
    instance_id: opts.instanceId,
    mode: opts.mode,
    person: b64(sealToPublicKey(opts.personPublicKey, opts.dataKey, aad(opts.instanceId))),
  };
  if (opts.mode === 'always-on') {
    if (!opts.hostKey || opts.hostKey.length !== HOST_KEY_BYTES)
      throw new VaultError('no_host_wrap', 'always-on mode needs the host sealing key (32 bytes)');
    file.host = b64(seal(opts.hostKey, opts.dataKey, { aad: aad(opts.instanceId), alg: 'aes-256-gcm' }));
  }
  return file;
}

/** Always-on unlock: the host unwraps the data key without the person. */
export function unlockWithHostKey(file: KeyFile, hostKey: Uint8Array): Uint8Array {
  if (file.mode !== 'always-on' || !file.host) {
    throw new VaultError(
      'locked',
      'this instance is in sovereign mode: it unlocks only with a session from the person’s device',
    );
  }
  return unwrap(() => open(hostKey, unb64(file.host!), { aad: aad(file.instance_id) }));
}

/** The person's device unwraps the data key with their hybrid encryption secret key. */
export function unlockWithPersonKey(file: KeyFile, personSecretKey: Uint8Array): Uint8Array {
  return unwrap(() => openWithSecretKey(personSecretKey, unb64(file.person), aad(file.instance_id)));
}

function unwrap(openIt: () => Uint8Array): Uint8Array {
  try {
    const key = openIt();
    if (key.length !== DATA_KEY_BYTES)
      throw new VaultError('bad_key_file', 'wrapped data key has the wrong size');
    return key;
  } catch (err) {
    if (err instanceof CryptoError)
      throw new VaultError(
        'wrong_key',
        'the key does not unwrap this instance’s data key (wrong key or altered file)',
      );
    throw err;
  }
}

/** Reads and checks `keys.json` in an instance directory. */
export function readKeyFile(dir: string): KeyFile {
  const path = join(dir, KEY_FILE);
  if (!existsSync(path))
    throw new VaultError('bad_key_file', `no ${KEY_FILE} in ${dir}: is this an instance directory?`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new VaultError('bad_key_file', `${path} is not valid JSON`);
  }
  const f = raw as Partial<KeyFile>;
  const ok =
    typeof f === 'object' &&
    f !== null &&
    f.v === KEY_FILE_VERSION &&
    typeof f.instance_id === 'string' &&
    (f.mode === 'always-on' || f.mode === 'sovereign') &&
    typeof f.person === 'string' &&
    (f.host === undefined || typeof f.host === 'string');
  if (!ok)
    throw new VaultError(
      'bad_key_file',
      `${path} is not a SELF instance key file (version ${KEY_FILE_VERSION})`,
    );
  return f as KeyFile;
}

/** Writes `keys.json` atomically, readable by the owner only. */
export function writeKeyFile(dir: string, file: KeyFile): void {
  const path = join(dir, KEY_FILE);
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}
