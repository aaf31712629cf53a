-- Calls per API key, written with the traffic log's periodic flush together with
-- last_used_at (never a write per request).
ALTER TABLE api_keys ADD COLUMN calls INTEGER NOT NULL DEFAULT 0;

-- The audit log is listed latest first by time (imports and the demo record actions dated
-- earlier than their id suggests).
CREATE INDEX audit_log_at ON audit_log (at, id);
