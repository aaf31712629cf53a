-- Gateway decisions kept for the operator: every denial (pruned after the retention the
-- settings give) and allowed traffic as per-minute totals, so the file does not grow with
-- every request. Forward-only: never edit this file once it has landed.

CREATE TABLE denials (
    id         INTEGER PRIMARY KEY,
    at         TEXT    NOT NULL,
    request_id TEXT    NOT NULL,
    tenant     TEXT,
    key_prefix TEXT,
    route      TEXT,
    method     TEXT    NOT NULL,
    path       TEXT    NOT NULL,
    status     INTEGER NOT NULL,
    code       TEXT    NOT NULL,
    facts      TEXT -- JSON
);
-- No index on `at`: rows arrive in time order, so pruning walks from the oldest id.
CREATE INDEX denials_tenant ON denials (tenant, id);

CREATE TABLE usage_minutes (
    minute   TEXT    NOT NULL, -- RFC 3339, truncated to the minute
    tenant   TEXT    NOT NULL,
    route    TEXT    NOT NULL,
    requests INTEGER NOT NULL,
    credits  INTEGER NOT NULL,
    PRIMARY KEY (minute, tenant, route)
);
CREATE INDEX usage_minutes_tenant ON usage_minutes (tenant, minute);
