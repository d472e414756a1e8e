-- Imports from other panels (issue #18): subscription URLs the old panel handed out keep
-- working on `/sub/{token}`.

-- The secret an old panel signed its subscription tokens with (sealed with the cluster secret).
CREATE TABLE legacy_sub_secrets (
    source      TEXT PRIMARY KEY,
    secret      TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

-- Which user an old panel's username (carried inside its tokens) now is. Marzban compares
-- usernames case-insensitively, hence NOCASE. Deleting the user forgets their old URLs.
CREATE TABLE legacy_sub_users (
    source          TEXT NOT NULL,
    legacy_name     TEXT NOT NULL COLLATE NOCASE,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The user's vpnkeeper token when imported: rotating it cuts the old URLs off too.
    sub_token       TEXT NOT NULL,
    -- Tokens issued before this (unix ms) had been revoked in the old panel.
    revoked_before  INTEGER,
    PRIMARY KEY (source, legacy_name)
) STRICT;
CREATE INDEX legacy_sub_users_user ON legacy_sub_users(user_id);
