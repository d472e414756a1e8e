-- Support tickets (crates/domain/src/ticket.rs). Written only by apply. Ids are plain
-- INTEGER PRIMARY KEYs (max + 1, the same on every node): rows are never deleted.
CREATE TABLE tickets (
    id             INTEGER PRIMARY KEY,
    telegram_id    INTEGER NOT NULL,
    user_id        INTEGER NOT NULL,
    status         TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    closed_at      INTEGER
) STRICT;
CREATE INDEX tickets_open ON tickets(telegram_id, status);
CREATE INDEX tickets_updated ON tickets(status, updated_at);

CREATE TABLE ticket_messages (
    id         INTEGER PRIMARY KEY,
    ticket_id  INTEGER NOT NULL REFERENCES tickets(id),
    -- 'user' for the ticket's owner, else the answering actor (tg:…, key:…).
    author     TEXT NOT NULL,
    text       TEXT NOT NULL,
    at         INTEGER NOT NULL
) STRICT;
CREATE INDEX ticket_messages_ticket ON ticket_messages(ticket_id, id);
