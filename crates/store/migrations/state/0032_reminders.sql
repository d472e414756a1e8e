-- Reminders to end users and the scheduler's due index (issue #15, remind).

-- When the user next needs the scheduler's look (expiry, on-hold timeout, reset boundary,
-- a reminder); NULL = nothing time-driven pending. Written by apply only
-- (store/src/apply/reminder.rs::refresh_next_due), read by the leader's pass as
-- `WHERE next_due_ms <= now`.
ALTER TABLE users ADD COLUMN next_due_ms INTEGER;
CREATE INDEX users_next_due ON users(next_due_ms) WHERE next_due_ms IS NOT NULL;

-- The period each reminder kind was last sent for, per user: a reminder is sent once per
-- (user, kind, period).
CREATE TABLE user_reminders (
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind     TEXT NOT NULL,
    period   INTEGER NOT NULL,
    sent_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, kind)
) STRICT, WITHOUT ROWID;

-- Existing users get their due time from the scheduler's first pass: it reads them as due
-- now and has apply recompute each (`RecheckDue`).
UPDATE users SET next_due_ms = 0
 WHERE status != 'disabled'
   AND (expires_at IS NOT NULL OR on_hold_timeout IS NOT NULL
        OR reset_strategy != 'no_reset' OR traffic_limit_bytes IS NOT NULL);
