-- The Raft log and the durable Raft metadata (vote, committed id, last purged id).
CREATE TABLE log (
    idx    INTEGER PRIMARY KEY,
    entry  TEXT NOT NULL
) STRICT;

CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
) STRICT;
