-- What a storage fault needs: debits folded per tenant while storage was failing, a record
-- of every debit the ledger refused (so `verify` can report it), and a row to probe
-- writes with. Forward-only: never edit this file once it has landed.

-- Requests one debit charges for: 1, or more for a debit folded from many while the
-- database could not be written (the pending charges are kept summed per tenant then).
-- Other kinds of entry carry 1.
ALTER TABLE ledger ADD COLUMN requests INTEGER NOT NULL DEFAULT 1 CHECK (requests >= 1);

-- A served request whose debit the ledger refused (it would take the balance below zero:
-- memory and database disagreed). The credits were spent in memory; `verify` reports each.
CREATE TABLE refused_debits (
    id         INTEGER PRIMARY KEY,
    tenant_id  INTEGER NOT NULL,
    amount     INTEGER NOT NULL,
    requests   INTEGER NOT NULL,
    request_id TEXT,
    at         TEXT    NOT NULL,
    reason     TEXT    NOT NULL
);

-- One row the settlement writer updates to learn whether storage accepts writes again.
CREATE TABLE storage_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at TEXT    NOT NULL
);
INSERT INTO storage_probe (id, at) VALUES (1, '1970-01-01T00:00:00Z');
