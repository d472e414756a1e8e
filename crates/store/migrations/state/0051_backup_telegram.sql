-- Scheduled backups sent to the bot's admins (issue #18): the latest schedule slot whose
-- delivery was queued, so a slot is queued once whoever leads when it falls due.
CREATE TABLE backup_telegram (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    last_slot_ms  INTEGER NOT NULL,
    queued_at     INTEGER NOT NULL
) STRICT;
