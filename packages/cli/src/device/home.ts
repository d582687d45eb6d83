import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { CliError } from '../errors.js';

/**
 * The device home: where this device keeps the person's encrypted identity and their session with
 * a SELF cloud. `$SELF_HOME`, or `~/.self`. The directory is 0700 and every file in it 0600: the
 * identity file is encrypted, but the session token is a bearer secret as it stands.
 */
export const IDENTITY_FILE = 'identity.json';
export const SESSION_FILE = 'session.json';

export const HOME_DIR_MODE = 0o700;
export const SECRET_FILE_MODE = 0o600;

export function selfHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.SELF_HOME;
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv);
  return join(homedir(), '.self');
}

/**
 * Makes the home directory (and parents) if needed, and tightens it to 0700 when it already
 * exists with looser permissions: a session token in a world-readable directory can be listed and
 * read by anyone on the machine.
 */
export function ensureHome(home: string): string {
  try {
    mkdirSync(home, { recursive: true, mode: HOME_DIR_MODE });
    const st = statSync(home);
    if (!st.isDirectory()) throw new CliError(`${home} is not a directory; set SELF_HOME to another path`);
    if ((st.mode & 0o777) !== HOME_DIR_MODE) chmodSync(home, HOME_DIR_MODE);
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(
      `cannot use ${home} as the device home: ${errnoText(err)} (set SELF_HOME to another directory)`,
    );
  }
  return home;
}

/**
 * Writes `data` to `path` so that a reader sees either the old file or the whole new one: a
 * temporary file in the same directory (created 0600, so the secret is never readable by others
 * even for a moment), fsynced, renamed over the target, then the directory fsynced.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = SECRET_FILE_MODE): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'wx', mode);
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    // The umask may have narrowed the mode at creation; never widened, but be exact.
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== null) closeSync(fd);
    rmSync(tmp, { force: true });
    throw new CliError(`cannot write ${path}: ${errnoText(err)}`);
  }
  syncDir(dir);
}

function syncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on a directory; the rename itself is already done.
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** The file's text, or null when it does not exist. */
export function readTextIfExists(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CliError(`cannot read ${path}: ${errnoText(err)}`);
  }
}

export function removeIfExists(path: string): void {
  rmSync(path, { force: true });
}

export function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code === 'string') return e.code === 'EACCES' ? 'permission denied (EACCES)' : e.code;
  return err instanceof Error ? err.message : String(err);
}
