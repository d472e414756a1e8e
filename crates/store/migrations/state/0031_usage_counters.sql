-- Exact usage accounting (issue #15): data planes report absolute counters, and the state
-- keeps what it has already counted, so restarts, retries and replays add traffic once.

-- The last report applied per node: reports are ordered by (boot_epoch, seq), and one not
-- after this is refused (a replay or a late retry).
CREATE TABLE usage_reports (
    node_id     INTEGER PRIMARY KEY,
    boot_epoch  INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    at          INTEGER NOT NULL
) STRICT;

-- The last-seen absolute counters of each device's peer on its node, in the counter
-- lifetime `epoch` (0 = the one first seen; another value = a lifetime that began at zero).
CREATE TABLE device_counters (
    device_id  INTEGER NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    node_id    INTEGER NOT NULL,
    epoch      INTEGER NOT NULL,
    rx_seen    INTEGER NOT NULL,
    tx_seen    INTEGER NOT NULL,
    PRIMARY KEY (device_id, node_id)
) STRICT, WITHOUT ROWID;

-- Traffic counted per node and UTC day (days since the Unix epoch), for the admin stats.
CREATE TABLE node_usage_daily (
    node_id   INTEGER NOT NULL,
    day       INTEGER NOT NULL,
    rx_bytes  INTEGER NOT NULL DEFAULT 0,
    tx_bytes  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (node_id, day)
) STRICT, WITHOUT ROWID;
