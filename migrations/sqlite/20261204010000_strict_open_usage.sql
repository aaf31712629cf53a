-- `strict` usage no longer costs a row per request, nor a ledger entry per commit, and a
-- usage write changes the tenant's row only, not also its subscription's.
-- Forward-only: never edit this file once it has landed.

-- A strict request's charge is found through the request log (its record names the ledger
-- entry that holds it), as a batched one is: the per-request table goes.
DROP INDEX IF EXISTS charged_requests_entry;
DROP TABLE IF EXISTS charged_requests;

-- The ledger stays append-only but for one narrow change: the gateway adds later usage to
-- a tenant's open usage entry (one per tenant per flush interval, as batched writes) while
-- that entry is still the tenant's newest. The balance before the entry, its time and
-- everything but its amount, calls and balance_after stay, and it can only grow, so the
-- balance_after chain and sum(ledger) == balance hold as for an appended entry.
DROP TRIGGER ledger_no_update;
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
WHEN NOT (
    OLD.kind = 'debit' AND OLD.actor = 'gateway' AND OLD.request_id IS NULL AND OLD.idempotency_key IS NULL
    AND NEW.id = OLD.id AND NEW.tenant_id = OLD.tenant_id AND NEW.kind = OLD.kind AND NEW.actor = OLD.actor
    AND NEW.reason IS OLD.reason AND NEW.request_id IS NULL AND NEW.idempotency_key IS NULL
    AND NEW.created_at = OLD.created_at AND NEW.paid_minor IS OLD.paid_minor AND NEW.paid_currency IS OLD.paid_currency
    AND NEW.amount < OLD.amount AND NEW.requests > OLD.requests
    AND NEW.balance_after - NEW.amount = OLD.balance_after - OLD.amount
    AND OLD.id = (SELECT MAX(id) FROM ledger WHERE tenant_id = OLD.tenant_id)
)
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only (only the gateway''s open usage entry grows)'); END;

-- The period's request count moves beside the balance: a usage write then changes one
-- row per tenant (the tenant's), not two on different pages. A renewal resets it.
ALTER TABLE tenants ADD COLUMN period_used INTEGER NOT NULL DEFAULT 0 CHECK (period_used >= 0);
UPDATE tenants SET period_used = COALESCE((SELECT s.period_used FROM subscriptions s WHERE s.tenant_id = tenants.id), 0);
ALTER TABLE subscriptions DROP COLUMN period_used;
