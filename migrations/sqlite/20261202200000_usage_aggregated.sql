-- Usage reaches the ledger summed per tenant: one debit per tenant per flush (or per strict
-- commit), its `requests` column saying how many calls it covers. What no longer lives in
-- one row per request is kept here. Forward-only: never edit this file once it has landed.

-- Requests charged in the subscription's current period (the plan's quota counts them),
-- updated with every usage entry and reset by a renewal, so start-up reads it instead of
-- summing the ledger. Filled once from the ledger for an existing database.
ALTER TABLE subscriptions ADD COLUMN period_used INTEGER NOT NULL DEFAULT 0 CHECK (period_used >= 0);
UPDATE subscriptions SET period_used = (
    SELECT COALESCE(SUM(l.requests), 0) FROM ledger l
    WHERE l.tenant_id = subscriptions.tenant_id AND l.kind = 'debit'
      AND julianday(l.created_at) >= julianday(subscriptions.period_start));

-- Each `strict` request's share of the usage entry that charged it, so the operator can
-- find a request's charge by its id. Pruned after the retention the settings give, oldest
-- entries first (hence the index).
CREATE TABLE charged_requests (
    request_id TEXT    PRIMARY KEY,
    entry_id   INTEGER NOT NULL,
    amount     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX charged_requests_entry ON charged_requests (entry_id);
