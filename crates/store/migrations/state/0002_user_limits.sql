-- Per-user expiry and traffic quota (API issue #5): the subscription endpoint reports them in
-- `subscription-userinfo` and serves an empty list once a user has expired.
ALTER TABLE users ADD COLUMN expires_at INTEGER;
ALTER TABLE users ADD COLUMN traffic_limit_bytes INTEGER;
-- The audit log is read newest first, filtered by action or target.
CREATE INDEX audit_log_action ON audit_log(action, id);
CREATE INDEX audit_log_target ON audit_log(target, id);
