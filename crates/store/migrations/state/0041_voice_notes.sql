-- Voice notes to support: the durable transcription queue (crates/domain/src/command/voice.rs).
-- Written only by apply. A note is a ticket message (its text says "transcribing…" until the
-- result); it stays `pending` until a VoiceTranscribed commits, so the next leader's worker
-- takes it over after a crash or failover.
CREATE TABLE voice_notes (
    message_id     INTEGER PRIMARY KEY REFERENCES ticket_messages(id),
    ticket_id      INTEGER NOT NULL REFERENCES tickets(id),
    telegram_id    INTEGER NOT NULL,
    file_id        TEXT NOT NULL,
    duration_secs  INTEGER NOT NULL,
    language       TEXT,
    -- JSON array of the admin chats that get the transcript.
    notify         TEXT NOT NULL,
    -- pending | done | failed
    status         TEXT NOT NULL,
    -- JSON VoiceResult, once in.
    result         TEXT,
    created_at     INTEGER NOT NULL,
    done_at        INTEGER
) STRICT;
CREATE INDEX voice_notes_pending ON voice_notes(status, message_id);
