-- Admin stats (issue #15 item 8): `GET /api/v1/stats` and the bot's stats screen read a few
-- small aggregates instead of counting 100k users and 200k devices on every request.
--
-- The aggregates are kept by triggers, so every write path (apply of any command, imports,
-- snapshot install's delete + copy) keeps them right without code of its own, and apply stays
-- deterministic: every node's triggers see the same rows. Nothing here is read by apply.

-- Users per lifecycle status (`users.status`, written by apply's refresh_status).
CREATE TABLE user_status_counts (
    status  TEXT PRIMARY KEY,
    n       INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO user_status_counts (status, n) SELECT status, COUNT(*) FROM users GROUP BY status;

CREATE TRIGGER user_status_count_insert AFTER INSERT ON users BEGIN
    INSERT INTO user_status_counts (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER user_status_count_update AFTER UPDATE OF status ON users
WHEN NEW.status IS NOT OLD.status BEGIN
    UPDATE user_status_counts SET n = n - 1 WHERE status = OLD.status;
    INSERT INTO user_status_counts (status, n) VALUES (NEW.status, 1)
        ON CONFLICT (status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER user_status_count_delete AFTER DELETE ON users BEGIN
    UPDATE user_status_counts SET n = n - 1 WHERE status = OLD.status;
END;

-- Active (not revoked) devices per node.
CREATE TABLE node_device_counts (
    node_id  INTEGER PRIMARY KEY,
    n        INTEGER NOT NULL
) STRICT;

INSERT INTO node_device_counts (node_id, n)
    SELECT node_id, COUNT(*) FROM devices WHERE revoked_at IS NULL GROUP BY node_id;

CREATE TRIGGER node_device_count_insert AFTER INSERT ON devices
WHEN NEW.revoked_at IS NULL BEGIN
    INSERT INTO node_device_counts (node_id, n) VALUES (NEW.node_id, 1)
        ON CONFLICT (node_id) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER node_device_count_update AFTER UPDATE OF revoked_at, node_id ON devices
WHEN (OLD.revoked_at IS NULL) != (NEW.revoked_at IS NULL) OR OLD.node_id != NEW.node_id BEGIN
    UPDATE node_device_counts SET n = n - 1
        WHERE node_id = OLD.node_id AND OLD.revoked_at IS NULL;
    INSERT INTO node_device_counts (node_id, n) SELECT NEW.node_id, 1 WHERE NEW.revoked_at IS NULL
        ON CONFLICT (node_id) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER node_device_count_delete AFTER DELETE ON devices
WHEN OLD.revoked_at IS NULL BEGIN
    UPDATE node_device_counts SET n = n - 1 WHERE node_id = OLD.node_id;
END;

-- Each user's latest handshake on any device ("active in the last 24 h" is one index
-- range). A table of its own rather than a column of `users`, so user rows stay as they were.
CREATE TABLE user_last_seen (
    user_id  INTEGER PRIMARY KEY,
    at       INTEGER NOT NULL
) STRICT;

INSERT INTO user_last_seen (user_id, at)
    SELECT user_id, MAX(last_handshake_at) FROM devices
    WHERE last_handshake_at IS NOT NULL GROUP BY user_id;

CREATE INDEX user_last_seen_at ON user_last_seen(at);

CREATE TRIGGER user_last_seen_update AFTER UPDATE OF last_handshake_at ON devices
WHEN NEW.last_handshake_at IS NOT NULL AND NEW.last_handshake_at IS NOT OLD.last_handshake_at BEGIN
    INSERT INTO user_last_seen (user_id, at) VALUES (NEW.user_id, NEW.last_handshake_at)
        ON CONFLICT (user_id) DO UPDATE SET at = MAX(at, excluded.at);
END;

-- A device written with a handshake already known (imports, snapshot install) counts too.
CREATE TRIGGER user_last_seen_insert AFTER INSERT ON devices
WHEN NEW.last_handshake_at IS NOT NULL BEGIN
    INSERT INTO user_last_seen (user_id, at) VALUES (NEW.user_id, NEW.last_handshake_at)
        ON CONFLICT (user_id) DO UPDATE SET at = MAX(at, excluded.at);
END;

CREATE TRIGGER user_last_seen_delete AFTER DELETE ON users BEGIN
    DELETE FROM user_last_seen WHERE user_id = OLD.id;
END;
