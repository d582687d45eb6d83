import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { JWK } from 'jose';

/** The access-token signing key's file in the cloud's data directory: a private JWK, mode 0600. */
export const SIGNING_KEY_FILE = 'oauth-signing-key.json';

export interface SigningKeyPair {
  /** Signs access tokens; never leaves this process. */
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** What /oauth/jwks publishes and instances verify with: `{kty, crv, x, kid, alg, use}`. */
  publicJwk: JWK & { kid: string };
  kid: string;
}

const B64URL_32 = /^[A-Za-z0-9_-]{43}$/;

/** RFC 7638 thumbprint of an Ed25519 key: SHA-256 of its required members in lexicographic order. */
function thumbprint(x: string): string {
  return createHash('sha256')
    .update(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x }))
    .digest('base64url');
}

/**
 * The Ed25519 key access tokens are signed with. Made on the first start and kept in
 * `<dataDir>/oauth-signing-key.json` (0600) so tokens outlive a restart; the instances learn the
 * public half from the cloud (setAppTokenIssuer). A file that is not an Ed25519 private JWK stops
 * the start rather than being replaced: replacing it would silently invalidate every live token.
 * Synchronous on purpose: createCloud is.
 */
export function loadSigningKey(dataDir: string): SigningKeyPair {
  const file = join(dataDir, SIGNING_KEY_FILE);
  let jwk: { kty: string; crv: string; x: string; d: string };
  if (existsSync(file)) {
    let parsed: Partial<typeof jwk>;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<typeof jwk>;
    } catch {
      throw new Error(`${file} is not JSON; restore it (deleting it invalidates every app token)`);
    }
    if (
      parsed.kty !== 'OKP' ||
      parsed.crv !== 'Ed25519' ||
      !B64URL_32.test(parsed.x ?? '') ||
      !B64URL_32.test(parsed.d ?? '')
    )
      throw new Error(`${file} is not an Ed25519 private JWK`);
    jwk = parsed as typeof jwk;
  } else {
    const made = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
    jwk = { kty: 'OKP', crv: 'Ed25519', x: made.x!, d: made.d! };
    writeFileSync(file, `${JSON.stringify(jwk)}\n`, { mode: 0o600, flag: 'wx' });
  }
  const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  // A JWK's `x` is not checked against `d` on import: a mismatch would sign tokens nobody verifies.
  const publicKey = createPublicKey(privateKey);
  if (publicKey.export({ format: 'jwk' }).x !== jwk.x)
    throw new Error(`${file}: its public key (x) does not match its private key (d)`);
  const kid = thumbprint(jwk.x);
  return {
    privateKey,
    publicKey,
    kid,
    publicJwk: { kty: 'OKP', crv: 'Ed25519', x: jwk.x, kid, alg: 'EdDSA', use: 'sig' },
  };
}
