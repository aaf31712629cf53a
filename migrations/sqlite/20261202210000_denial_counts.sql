-- Denials are counted per minute, tenant, route, status and code; only the first few of
-- each kind per minute stay whole in `denials` (as samples, with their path cut and
-- marked), so a flood of refusals no longer grows the database by a row per request.
-- Forward-only: never edit this file once it has landed.

CREATE TABLE denial_minutes (
    minute   TEXT    NOT NULL, -- RFC 3339, UTC, truncated to the minute
    tenant   TEXT,             -- NULL for requests without a usable key
    route    TEXT,             -- NULL when no route matched
    status   INTEGER NOT NULL,
    code     TEXT    NOT NULL,
    requests INTEGER NOT NULL
);
-- One row per kind and minute: NULLs compare equal here, so upserts find the keyless row.
CREATE UNIQUE INDEX denial_minutes_key
    ON denial_minutes (minute, ifnull(tenant, ''), ifnull(route, ''), status, code);
CREATE INDEX denial_minutes_tenant ON denial_minutes (tenant, minute);

ALTER TABLE denials ADD COLUMN path_truncated INTEGER NOT NULL DEFAULT 0;
-- `request.show` finds a refusal's sample by its id.
CREATE INDEX denials_request ON denials (request_id);

-- The denials stored one by one so far become counts (and stay as samples until pruned).
INSERT INTO denial_minutes (minute, tenant, route, status, code, requests)
SELECT strftime('%Y-%m-%dT%H:%M:00+00:00', at), tenant, route, status, code, count(*)
FROM denials
GROUP BY 1, ifnull(tenant, ''), ifnull(route, ''), status, code;
