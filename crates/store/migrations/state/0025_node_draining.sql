-- An operator's draining mark on a node (issue #14, SetNodeDraining): placement gives a
-- draining node no new devices; the devices it has stay.
ALTER TABLE nodes ADD COLUMN draining INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN draining_changed_at INTEGER;
