-- A strict group commit writes one compact row per tenant here, durably, and answers; the
-- gateway's next usage flush of the tenant folds its rows into its usage entry (which
-- records the highest row it took, below), so the fsynced commit a strict caller waits for
-- no longer rewrites the pages of every tenant's row and open usage entry. Folded rows are
-- deleted a range at a time (about one flush interval of rows stays); a crash leaves the
-- unfolded ones, which `serve` folds before it loads balances.
-- Forward-only: never edit this file once it has landed.

-- AUTOINCREMENT: ids are never reused once the table empties, because a request's record
-- and `ledger.journal_through` name them for good.
CREATE TABLE usage_journal (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  INTEGER NOT NULL REFERENCES tenants (id),
    credits    INTEGER NOT NULL CHECK (credits > 0),
    requests   INTEGER NOT NULL CHECK (requests > 0),
    -- When the last of them was served, in milliseconds since the Unix epoch: eight bytes,
    -- where a timestamp's text would take thirty.
    at_ms      INTEGER NOT NULL
);

-- The highest journal row a usage entry absorbed: a strict request's record names its
-- journal row, and after the fold the tenant's first debit entry at or past it holds it.
ALTER TABLE ledger ADD COLUMN journal_through INTEGER;

-- A fold the ledger refused names the tenant's journal rows it held (all of the tenant's rows
-- from the first to the last): their requests were not charged, whatever entry follows.
ALTER TABLE refused_debits ADD COLUMN journal_from INTEGER;
ALTER TABLE refused_debits ADD COLUMN journal_through INTEGER;
