import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { concatBytes, fromHex, hkdfSha512, isCryptoError, open, seal, u32be, utf8 } from '@self/crypto';
import { InstanceError } from './errors.js';

/** Values larger than this live in encrypted blob files instead of the database row. */
export const INLINE_MAX = 64 * 1024;

/**
 * HKDF label for blob keys. Each blob is sealed under its own key,
 *   HKDF-SHA-512(ikm = data key, salt = blob id (16 random bytes), info = BLOB_KEY_INFO, 32 bytes),
 * so the label separates blob keys from every other use of the data key, and since each key seals
 * exactly one message, AES-256-GCM's random 96-bit nonces never approach their 2^32-message limit.
 */
export const BLOB_KEY_INFO = 'self-instance-blob-v1';
const BLOB_ID_BYTES = 16;
const BLOB_ID_RE = /^[0-9a-f]{32}$/;
const TEMP_SUFFIX = '.tmp';

/** Where a blob belongs; bound into its associated data so a blob moved to another object fails to open. */
export interface BlobOwner {
  ns: string;
  collection: string;
  key: Uint8Array;
}

function lengthPrefixed(...parts: Uint8Array[]): Uint8Array {
  return concatBytes(...parts.flatMap((p) => [u32be(p.length), p]));
}

function blobAad(id: string, owner: BlobOwner): Uint8Array {
  return lengthPrefixed(utf8(BLOB_KEY_INFO), fromHex(id), utf8(owner.ns), utf8(owner.collection), owner.key);
}

function fsyncDir(dir: string): void {
  // Windows cannot open a directory for fsync; its rename is durable through NTFS's journal.
  if (process.platform === 'win32') return;
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}

/**
 * The `blobs/` directory: one file per large value, named by a random 128-bit id (never by
 * anything a user chose), holding a SELF envelope (AES-256-GCM) of the value.
 */
export class BlobFiles {
  private constructor(
    readonly dir: string,
    private readonly dataKey: Uint8Array,
  ) {}

  static open(dir: string, dataKey: Uint8Array): BlobFiles {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return new BlobFiles(dir, dataKey);
  }

  newId(): string {
    return randomBytes(BLOB_ID_BYTES).toString('hex');
  }

  private path(id: string): string {
    if (!BLOB_ID_RE.test(id))
      throw new InstanceError('corrupt', 'a stored blob id is malformed; restore from a backup');
    return join(this.dir, id);
  }

  private withKey<T>(id: string, fn: (key: Uint8Array) => T): T {
    const key = hkdfSha512(this.dataKey, fromHex(id), utf8(BLOB_KEY_INFO), 32);
    try {
      return fn(key);
    } finally {
      key.fill(0);
    }
  }

  /**
   * Encrypts `value` into the blob file `id`, durably: written under a temporary name, fsynced,
   * renamed into place, and the directory fsynced, so once this returns the file survives a crash
   * and no reader ever sees a partial file.
   */
  write(id: string, owner: BlobOwner, value: Uint8Array): void {
    const final = this.path(id);
    const temp = final + TEMP_SUFFIX;
    const sealed = this.withKey(id, (key) =>
      seal(key, value, { alg: 'aes-256-gcm', aad: blobAad(id, owner) }),
    );
    const fd = openSync(temp, 'wx', 0o600);
    try {
      try {
        for (let at = 0; at < sealed.length;) at += writeSync(fd, sealed, at, sealed.length - at);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, final);
    } catch (err) {
      rmSync(temp, { force: true });
      throw err;
    }
    fsyncDir(this.dir);
  }

  /** Decrypts blob `id`; InstanceError('corrupt') if it is missing, altered, or belongs elsewhere. */
  read(id: string, owner: BlobOwner, size: number): Uint8Array {
    let sealed: Uint8Array;
    try {
      sealed = readFileSync(this.path(id));
    } catch (err) {
      if (isNotFound(err)) {
        throw new InstanceError(
          'corrupt',
          'a blob file this object needs is missing; restore from a backup',
          {
            blobId: id,
          },
        );
      }
      throw err;
    }
    let value: Uint8Array;
    try {
      value = this.withKey(id, (key) => open(key, sealed, { aad: blobAad(id, owner) }));
    } catch (err) {
      if (isCryptoError(err)) {
        throw new InstanceError(
          'corrupt',
          'a blob file failed authentication (altered, truncated or moved); restore it from a backup',
          { blobId: id },
        );
      }
      throw err;
    }
    if (value.length !== size) {
      throw new InstanceError(
        'corrupt',
        'a blob file holds a value of the wrong size; restore it from a backup',
        {
          blobId: id,
        },
      );
    }
    return value;
  }

  /** Removes blob `id`; a file already gone is fine. */
  remove(id: string): void {
    rmSync(this.path(id), { force: true });
  }

  /**
   * Removes what a crash can leave behind: temporary files, and blob files that `isReferenced`
   * says no object points to (written before a commit that never happened, or left after an
   * overwrite whose cleanup was cut short). Returns the number of files removed.
   */
  sweep(isReferenced: (id: string) => boolean): number {
    let removed = 0;
    for (const name of readdirSync(this.dir)) {
      const orphan = name.endsWith(TEMP_SUFFIX)
        ? BLOB_ID_RE.test(name.slice(0, -TEMP_SUFFIX.length))
        : BLOB_ID_RE.test(name) && !isReferenced(name);
      if (orphan) {
        rmSync(join(this.dir, name), { force: true });
        removed++;
      }
    }
    return removed;
  }
}
