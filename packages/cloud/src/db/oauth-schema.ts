/**
 * Control-plane tables of the OAuth 2.1 authorization server (docs/cloud-api.md, "OAuth"):
 * pending authorization requests, single-use codes, and refresh-token families with rotation.
 * Codes and tokens are stored only as SHA-256 hashes; the grants themselves (the person's signed
 * consents) live in the person's instance, which enforces them.
 */
export const OAUTH_MIGRATION = `
  CREATE TABLE oauth_requests (
    id             TEXT PRIMARY KEY,         -- req_<base64url>
    user_code      TEXT NOT NULL UNIQUE,     -- what a person types to claim it: XXXX-XXXX
    poll_hash      BLOB NOT NULL,            -- SHA-256 of the browser's secret to learn the outcome
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    scopes         TEXT NOT NULL,            -- space-separated, as asked
    state          TEXT,
    code_challenge TEXT NOT NULL,
    did            TEXT,                     -- the person, once known (login_hint or claimed)
    grant_id       TEXT NOT NULL,            -- gr_<base64url>, the id the consent will carry
    status         TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied')),
    redirect_to    TEXT,                     -- where the browser goes once decided
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX oauth_requests_by_did ON oauth_requests (did);
  CREATE INDEX oauth_requests_by_expiry ON oauth_requests (expires_at);

  CREATE TABLE oauth_codes (
    code_hash      BLOB PRIMARY KEY,
    request_id     TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    did            TEXT NOT NULL,
    grant_id       TEXT NOT NULL,
    scopes         TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    grant_expires_at INTEGER NOT NULL,       -- the signed consent's expiry: the family's end
    family_id      TEXT,                     -- set once redeemed: a second use revokes this family
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
  ) WITHOUT ROWID;

  CREATE TABLE token_families (
    id             TEXT PRIMARY KEY,         -- fam_<base64url>
    client_id      TEXT NOT NULL,
    did            TEXT NOT NULL,
    grant_id       TEXT NOT NULL,
    scopes         TEXT NOT NULL,            -- the most this family may ever carry
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,         -- the grant's expiry
    revoked_at     INTEGER,
    revoked_reason TEXT
  ) WITHOUT ROWID;
  CREATE INDEX token_families_by_grant ON token_families (grant_id);
  CREATE INDEX token_families_by_did ON token_families (did);

  CREATE TABLE refresh_tokens (
    token_hash  BLOB PRIMARY KEY,
    family_id   TEXT NOT NULL REFERENCES token_families (id),
    scopes      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    rotated_at  INTEGER                      -- set when exchanged; presenting it again is reuse
  ) WITHOUT ROWID;
  CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
`;
