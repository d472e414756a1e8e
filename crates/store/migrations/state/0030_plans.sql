-- Plans and the user lifecycle (issue #15).
CREATE TABLE plans (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT NOT NULL UNIQUE,
    duration_days        INTEGER NOT NULL,
    traffic_limit_bytes  INTEGER NOT NULL DEFAULT 0,
    device_limit         INTEGER NOT NULL DEFAULT 0,
    reset_strategy       TEXT NOT NULL DEFAULT 'no_reset',
    reset_day            INTEGER,
    price_stars          INTEGER NOT NULL DEFAULT 0,
    archived             INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
) STRICT;

-- Derived by apply from the row at the entry's clock (domain::command::plan::derive_status).
ALTER TABLE users ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
-- No foreign key: a plan is archived, never deleted, and a user's terms are copied below.
ALTER TABLE users ADD COLUMN plan_id INTEGER;
-- When the current plan term began (the anchor of `month_rolling`).
ALTER TABLE users ADD COLUMN plan_started_at INTEGER;
ALTER TABLE users ADD COLUMN device_limit INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN reset_strategy TEXT NOT NULL DEFAULT 'no_reset';
ALTER TABLE users ADD COLUMN reset_day INTEGER;
-- Bytes (upload + download) used in the current reset period, and when that period began:
-- a reset keyed by its period start applies once.
ALTER TABLE users ADD COLUMN used_bytes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN period_start INTEGER NOT NULL DEFAULT 0;
-- Set while on hold: days to grant from the first handshake, and the optional timeout.
ALTER TABLE users ADD COLUMN on_hold_days INTEGER;
ALTER TABLE users ADD COLUMN on_hold_timeout INTEGER;

UPDATE users SET status = 'disabled' WHERE enabled = 0;
UPDATE users SET used_bytes = COALESCE(
    (SELECT SUM(rx_bytes + tx_bytes) FROM devices d WHERE d.user_id = users.id), 0);

CREATE INDEX users_status ON users(status);
CREATE INDEX users_expires ON users(expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX users_created ON users(created_at);
