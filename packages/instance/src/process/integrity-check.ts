import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { toHex } from '@self/crypto';

/**
 * The whole-database check the instance process runs each time it opens an instance. Every page
 * of the SQLCipher database carries an HMAC, but SQLite reads (and so verifies) a page only when a
 * query needs it: a page altered on disk would otherwise go unnoticed until someone reads it.
 * `PRAGMA quick_check` reads every page, so any altered one fails its HMAC here.
 *
 * It runs on a worker thread with its own read-only connection, so a large database never holds
 * up requests; its cost is about 6 ms per MiB on one core.
 */

export type IntegrityResult =
  | { status: 'ok' }
  | { status: 'damaged'; problems: string[] }
  /** The check could not run (its SQLite module not found from here); nothing is known. */
  | { status: 'skipped'; why: string };

function sqliteModule(): string | null {
  try {
    return createRequire(import.meta.url).resolve('better-sqlite3-multiple-ciphers');
  } catch {
    return null;
  }
}

// CommonJS, evaluated by the worker; the key arrives in workerData, never in a string of code.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
let result;
try {
  const Database = require(workerData.module);
  const db = new Database(workerData.path, { readonly: true, fileMustExist: true });
  try {
    db.pragma("cipher = 'sqlcipher'");
    db.pragma('legacy = 4');
    db.pragma('key = "x\\'' + workerData.key + '\\'"');
    const rows = db.pragma('quick_check');
    const problems = rows.map((r) => String(r.quick_check)).filter((v) => v !== 'ok');
    result = problems.length === 0 ? { status: 'ok' } : { status: 'damaged', problems: problems.slice(0, 5) };
  } finally {
    db.close();
  }
} catch (err) {
  const code = String((err && err.code) || 'error');
  const problem = code + ': ' + String(err && err.message);
  // SQLITE_CORRUPT / SQLITE_NOTADB: a page failed its HMAC. Anything else says nothing of the data.
  result = /^SQLITE_(CORRUPT|NOTADB)/.test(code)
    ? { status: 'damaged', problems: [problem] }
    : { status: 'skipped', why: problem };
}
parentPort.postMessage(result);
`;

/** Checks every page of the database at `path` under `dataKey` (which the caller may wipe after). */
export function checkDatabaseIntegrity(path: string, dataKey: Uint8Array): Promise<IntegrityResult> {
  const sqlitePath = sqliteModule();
  if (sqlitePath === null) {
    return Promise.resolve({
      status: 'skipped',
      why: 'better-sqlite3-multiple-ciphers is not reachable from here',
    });
  }
  return new Promise((resolve) => {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { module: sqlitePath, path, key: toHex(dataKey) },
    });
    worker.once('message', (result: IntegrityResult) => resolve(result));
    worker.once('error', (err) =>
      resolve({ status: 'skipped', why: `the check failed to run: ${err.message}` }),
    );
    worker.once('exit', () => resolve({ status: 'skipped', why: 'the check stopped without a result' }));
  });
}
