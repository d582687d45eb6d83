import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setMeta, type ControlDatabase } from '../db/database.js';
import { isOperatorTokenShape, newOperatorToken, sameHash, tokenHash } from './tokens.js';

/** The operator token's file in the cloud's data directory (mode 0600); `self instances` reads it. */
export const OPERATOR_TOKEN_FILE = 'operator.token';

/**
 * The operator's bearer token for /v1/admin. Made once, on the first start, and kept in
 * `<dataDir>/operator.token` (0600) for the operator's tools; the database keeps only its SHA-256.
 * Deleting the file makes a new token at the next start.
 */
export class OperatorAuth {
  readonly token: string;
  private readonly hash: Buffer;

  constructor(db: ControlDatabase, dataDir: string) {
    const file = join(dataDir, OPERATOR_TOKEN_FILE);
    let token: string;
    if (existsSync(file)) {
      token = readFileSync(file, 'utf8').trim();
      if (!isOperatorTokenShape(token))
        throw new Error(`${file} does not hold an operator token; delete it to make a new one`);
    } else {
      token = newOperatorToken();
      writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
    }
    this.token = token;
    this.hash = tokenHash(token);
    setMeta(db, 'operator_token_sha256', this.hash.toString('hex'));
  }

  verify(presented: string | null): boolean {
    if (presented === null || !isOperatorTokenShape(presented)) return false;
    return sameHash(tokenHash(presented), this.hash);
  }
}
