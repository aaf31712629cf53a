-- Tollgate's first schema. Forward-only: never edit this file once it has landed.
-- Times are RFC 3339 UTC text; money is integer minor units; credits are integers.

CREATE TABLE plans (
    id                 INTEGER PRIMARY KEY,
    slug               TEXT    NOT NULL UNIQUE,
    name               TEXT    NOT NULL,
    price_minor        INTEGER NOT NULL CHECK (price_minor >= 0),
    currency           TEXT    NOT NULL CHECK (length(currency) = 3),
    billing_period     TEXT    NOT NULL CHECK (billing_period IN ('day', 'week', 'month', 'year')),
    credits_per_period INTEGER NOT NULL CHECK (credits_per_period >= 0),
    features           TEXT    NOT NULL DEFAULT '[]', -- JSON array of entitlement names
    rate_per_second    INTEGER CHECK (rate_per_second IS NULL OR rate_per_second > 0),
    burst              INTEGER NOT NULL DEFAULT 0 CHECK (burst >= 0),
    period_quota       INTEGER CHECK (period_quota IS NULL OR period_quota > 0),
    grace_days         INTEGER NOT NULL DEFAULT 0 CHECK (grace_days >= 0),
    archived           INTEGER NOT NULL DEFAULT 0,
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL
);

CREATE TABLE tenants (
    id            INTEGER PRIMARY KEY,
    slug          TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    contact_email TEXT,
    standing      TEXT    NOT NULL DEFAULT 'active' CHECK (standing IN ('active', 'suspended', 'blocked')),
    billing_link  TEXT,
    -- Derived from the ledger; kept here so reads are cheap. `verify` checks it equals sum(ledger).
    balance       INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);

CREATE TABLE subscriptions (
    id           INTEGER PRIMARY KEY,
    tenant_id    INTEGER NOT NULL UNIQUE REFERENCES tenants (id),
    plan_id      INTEGER NOT NULL REFERENCES plans (id),
    status       TEXT    NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'canceled', 'expired')),
    period_start TEXT    NOT NULL,
    period_end   TEXT    NOT NULL,
    grace_until  TEXT,
    updated_at   TEXT    NOT NULL
);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    tenant_id    INTEGER NOT NULL REFERENCES tenants (id),
    prefix       TEXT    NOT NULL UNIQUE, -- the visible start of the key, e.g. tg_live_AbCd1234
    secret_hash  TEXT    NOT NULL UNIQUE, -- hex SHA-256 of the whole key; the key itself is never stored
    name         TEXT    NOT NULL,
    scopes       TEXT    NOT NULL DEFAULT '[]', -- JSON array
    created_at   TEXT    NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT,
    last_used_at TEXT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

CREATE TABLE routes (
    id               INTEGER PRIMARY KEY,
    path_prefix      TEXT    NOT NULL,
    methods          TEXT    NOT NULL DEFAULT '[]', -- JSON array; empty means every method
    upstream_url     TEXT    NOT NULL,
    cost             INTEGER NOT NULL CHECK (cost >= 0),
    required_feature TEXT,
    required_scope   TEXT,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
);

CREATE TABLE ledger (
    id              INTEGER PRIMARY KEY,
    tenant_id       INTEGER NOT NULL REFERENCES tenants (id),
    kind            TEXT    NOT NULL CHECK (kind IN ('grant', 'topup', 'debit', 'refund', 'adjustment', 'expiry')),
    amount          INTEGER NOT NULL CHECK (amount <> 0),
    balance_after   INTEGER NOT NULL CHECK (balance_after >= 0),
    actor           TEXT    NOT NULL,
    reason          TEXT,
    request_id      TEXT,
    idempotency_key TEXT,
    created_at      TEXT    NOT NULL
);
CREATE INDEX ledger_tenant ON ledger (tenant_id, id);
-- Partial: usage debits carry no key, so the gateway's writes never touch this index.
CREATE UNIQUE INDEX ledger_idempotency ON ledger (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- The ledger is append-only: the database refuses to change or remove an entry.
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL, -- the console command, e.g. credits.topup
    target     TEXT NOT NULL, -- what it acted on, e.g. tenant:acme
    reason     TEXT,
    before     TEXT,          -- JSON, NULL when the thing did not exist
    after      TEXT           -- JSON, NULL when the thing was removed
);
CREATE INDEX audit_log_target ON audit_log (target, id);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL -- JSON
);
