-- The nodes sharing this database, as each one last reported itself: for the console's
-- view of the cluster (each node's health and how far behind the change log it is).

CREATE TABLE nodes (
    name           TEXT PRIMARY KEY,
    started_at     TIMESTAMPTZ NOT NULL,
    -- Its last heartbeat.
    seen_at        TIMESTAMPTZ NOT NULL,
    -- The newest change (changes.id) it has applied.
    applied_change BIGINT NOT NULL DEFAULT 0
);
