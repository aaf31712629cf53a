-- Payment-provider events (Stripe webhooks), one row per event id: what each did, so a
-- redelivered event changes nothing and the operator sees every one.
CREATE TABLE payment_events (
    event_id    TEXT PRIMARY KEY,
    provider    TEXT NOT NULL,
    type        TEXT NOT NULL,
    received_at TEXT NOT NULL,
    tenant      TEXT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('applied', 'ignored', 'unmatched', 'failed')),
    detail      TEXT NOT NULL,
    deliveries  INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX payment_events_received ON payment_events (received_at);

-- The tenant's customer id at Stripe (cus_…), which invoices and subscriptions name.
ALTER TABLE tenants ADD COLUMN stripe_customer TEXT;
CREATE UNIQUE INDEX tenants_stripe_customer ON tenants (stripe_customer) WHERE stripe_customer IS NOT NULL;
