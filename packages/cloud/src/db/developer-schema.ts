/**
 * Control-plane tables of the developer platform (docs/cloud-api.md, "Developers"): developer
 * accounts, their hashed API keys, the OAuth clients of their apps and the testnet's test users.
 * Nothing personal: a developer is a SELF person known by their public DID, apps are public on
 * chain, and keys and secrets are stored only as SHA-256 hashes.
 */
export const DEVELOPER_MIGRATION = `
  CREATE TABLE developers (
    id          TEXT PRIMARY KEY,            -- dev_<base64url 16 bytes>
    did         TEXT NOT NULL UNIQUE,        -- the developer's own did:self (a SELF person)
    email       TEXT NOT NULL,
    project     TEXT NOT NULL,
    created_at  INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE api_keys (
    key_hash     BLOB PRIMARY KEY,           -- SHA-256 of the key
    developer_id TEXT NOT NULL REFERENCES developers (id),
    prefix       TEXT NOT NULL,              -- the first characters, to tell keys apart in lists
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
  ) WITHOUT ROWID;
  CREATE INDEX api_keys_by_developer ON api_keys (developer_id, prefix);

  -- The OAuth client of an app registered on chain (the chain holds name, owner, redirect URIs,
  -- scopes and logo; these columns mirror the last committed registration for fast lookups).
  CREATE TABLE apps (
    app_id        TEXT PRIMARY KEY,          -- the chain's app id, which is also the OAuth client_id
    developer_id  TEXT NOT NULL REFERENCES developers (id),
    client_type   TEXT NOT NULL CHECK (client_type IN ('public', 'confidential')),
    secret_hash   BLOB,                      -- confidential clients: SHA-256 of the client secret
    name          TEXT NOT NULL,
    logo_uri      TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,             -- JSON array
    scopes        TEXT NOT NULL,             -- JSON array
    active        INTEGER NOT NULL,
    rate_class    TEXT NOT NULL DEFAULT 'authenticated'
                  CHECK (rate_class IN ('anonymous', 'authenticated', 'partner')),
    tx_hash       TEXT NOT NULL,
    height        INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX apps_by_developer ON apps (developer_id);

  -- Testnet only: synthetic people a developer's test harness drives. Their keys are made and
  -- held by the cloud (they are fixtures, not people); never created on a production cloud.
  CREATE TABLE test_users (
    did             TEXT PRIMARY KEY,
    developer_id    TEXT NOT NULL REFERENCES developers (id),
    tier            TEXT NOT NULL,
    recovery_phrase TEXT NOT NULL,
    created_at      INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX test_users_by_developer ON test_users (developer_id);
`;
