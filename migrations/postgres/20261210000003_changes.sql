-- The change log of nodes sharing one PostgreSQL: every console write that changes what a
-- node holds in memory (a tenant, plan, route or the settings) adds a row naming it, and
-- notifies the channel `tollgate_changes` in the same transaction (delivered only if it
-- commits). Nodes apply notifications as they come and read the log's recent rows after a
-- lost connection and every second, since notifications are not replayed.

CREATE TABLE changes (
    id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    -- What to read again: `tenant:<slug>`, `plan:<slug>`, `route:<id>` or `settings`.
    target TEXT NOT NULL
);
CREATE INDEX changes_at ON changes (at);
