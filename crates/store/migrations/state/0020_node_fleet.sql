-- Placement and multi-node subscriptions (issue #13).
-- capacity: a node's relative size for placement (NULL: the default, see
--   vpnkeeper_domain::placement::DEFAULT_CAPACITY), from its registration.
-- online: whether the leader counts it online (SetNodeOnline, written only on a change);
--   a registered node starts online.
ALTER TABLE nodes ADD COLUMN capacity INTEGER;
ALTER TABLE nodes ADD COLUMN online INTEGER NOT NULL DEFAULT 1;
ALTER TABLE nodes ADD COLUMN online_changed_at INTEGER;
