-- Webhooks out: endpoints the operator registers, each event's delivery to each endpoint
-- (an outbox: written first, sent by a worker, retried with backoff), and every attempt.
CREATE TABLE webhook_endpoints (
    id          INTEGER PRIMARY KEY,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    events      TEXT NOT NULL,            -- JSON array of event types
    created_at  TEXT NOT NULL
);
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY,
    endpoint_id     INTEGER NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    message_id      TEXT NOT NULL,        -- webhook-id: the same on every attempt
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_status     INTEGER,
    last_error      TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE TABLE webhook_attempts (
    id           INTEGER PRIMARY KEY,
    delivery_id  INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    at           TEXT NOT NULL,
    status       INTEGER,                 -- the receiver's HTTP status; NULL when none came
    error        TEXT,
    duration_ms  INTEGER NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id);
-- How far the audit log has been turned into events (console changes: top-ups, keys,
-- subscriptions), so a restart neither repeats nor skips them.
CREATE TABLE webhook_cursor (
    one        INTEGER PRIMARY KEY CHECK (one = 1),
    audit_id   INTEGER NOT NULL
);
