-- The replicated state. Only the state machine's apply (and snapshot install) writes here.

CREATE TABLE sm_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE nodes (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    raft_addr    TEXT NOT NULL,
    api_addr     TEXT NOT NULL,
    public_host  TEXT NOT NULL,
    -- NodeWireguard as JSON (the private key inside is sealed).
    wireguard    TEXT,
    xray         TEXT,
    -- Next address offset to try in the node's pool (see apply::allocate_address).
    pool_cursor  INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE users (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    telegram_id  INTEGER UNIQUE,
    enabled      INTEGER NOT NULL DEFAULT 1,
    sub_token    TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE devices (
    id                 INTEGER PRIMARY KEY,
    uuid               TEXT NOT NULL UNIQUE,
    user_id            INTEGER NOT NULL REFERENCES users(id),
    node_id            INTEGER NOT NULL REFERENCES nodes(id),
    name               TEXT NOT NULL,
    device_type        TEXT NOT NULL,
    protocol           TEXT NOT NULL,
    wg_public_key      TEXT,
    wg_private_key     TEXT,
    wg_psk             TEXT,
    address_v4         INTEGER,
    created_at         INTEGER NOT NULL,
    revoked_at         INTEGER,
    last_handshake_at  INTEGER,
    rx_bytes           INTEGER NOT NULL DEFAULT 0,
    tx_bytes           INTEGER NOT NULL DEFAULT 0
) STRICT;

-- "Asking again returns the same config": one active device per (user, name, protocol).
CREATE UNIQUE INDEX devices_active_name ON devices(user_id, name, protocol) WHERE revoked_at IS NULL;
-- No two active devices of a node share an address.
CREATE UNIQUE INDEX devices_active_address ON devices(node_id, address_v4) WHERE revoked_at IS NULL AND address_v4 IS NOT NULL;
CREATE UNIQUE INDEX devices_active_wg_key ON devices(wg_public_key) WHERE revoked_at IS NULL AND wg_public_key IS NOT NULL;
CREATE INDEX devices_node ON devices(node_id, protocol) WHERE revoked_at IS NULL;
CREATE INDEX devices_user ON devices(user_id);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    scope        TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
) STRICT;

CREATE TABLE invites (
    id            TEXT PRIMARY KEY,
    token_hash    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER,
    used_by_node  INTEGER
) STRICT;

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT,
    detail  TEXT
) STRICT;
CREATE INDEX audit_log_at ON audit_log(at);
