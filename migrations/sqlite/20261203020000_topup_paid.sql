-- What the customer paid for a top-up, when the operator records it: minor units of the
-- currency stored beside it (the tenant's plan currency at the time), so the overview can
-- sum revenue from top-ups. Other entries leave both NULL. Forward-only: never edit this
-- file once it has landed.
ALTER TABLE ledger ADD COLUMN paid_minor INTEGER CHECK (paid_minor IS NULL OR paid_minor >= 0);
ALTER TABLE ledger ADD COLUMN paid_currency TEXT CHECK (paid_currency IS NULL OR length(paid_currency) = 3);
