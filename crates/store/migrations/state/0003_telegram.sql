-- The Telegram bot's replicated state (see crates/domain/src/telegram.rs): what makes updates
-- exactly-once across crashes and leader changes. Written only by apply, like every table here.

-- One row: the next getUpdates offset (every update id below it is handled) and the id the next
-- outbox row gets. Outbox ids come from here, not from AUTOINCREMENT, because snapshot install
-- copies rows but not sqlite_sequence: every node must hand out the same ids.
CREATE TABLE tg_poll (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    next_offset      INTEGER NOT NULL,
    next_outbox_id   INTEGER NOT NULL
) STRICT;
INSERT INTO tg_poll(id, next_offset, next_outbox_id) VALUES (1, 0, 1);

-- Update ids handled at or above next_offset (below it, the offset alone says "handled").
CREATE TABLE tg_handled (
    update_id  INTEGER PRIMARY KEY
) STRICT;

-- Replies and side effects not yet performed. A row is deleted once the bot reports it done.
CREATE TABLE tg_outbox (
    id          INTEGER PRIMARY KEY,
    update_id   INTEGER,
    chat_id     INTEGER NOT NULL,
    payload     TEXT NOT NULL,
    -- JSON array of the update's command outcomes, for rendering the reply.
    outcomes    TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE tg_chats (
    telegram_id      INTEGER PRIMARY KEY,
    lang             TEXT,
    main_message_id  INTEGER,
    pending          TEXT,
    updated_at       INTEGER NOT NULL
) STRICT;

CREATE TABLE tg_access_requests (
    telegram_id   INTEGER PRIMARY KEY,
    display       TEXT NOT NULL,
    status        TEXT NOT NULL,
    requested_at  INTEGER NOT NULL,
    decided_at    INTEGER,
    decided_by    TEXT
) STRICT;
CREATE INDEX tg_access_requests_status ON tg_access_requests(status, requested_at);

CREATE TABLE tg_broadcasts (
    id           TEXT PRIMARY KEY,
    text         TEXT NOT NULL,
    admin_chat   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    cursor       INTEGER NOT NULL DEFAULT 0,
    sent         INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0,
    finished_at  INTEGER
) STRICT;
