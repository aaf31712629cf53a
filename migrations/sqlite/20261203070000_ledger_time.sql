-- The overview sums the ledger per day over a window: read from the window's start, not
-- the whole table. Usage is one entry per tenant per flush, so the index costs little.
CREATE INDEX ledger_time ON ledger (created_at);
