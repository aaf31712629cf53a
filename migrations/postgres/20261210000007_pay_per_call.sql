-- Pay-per-call routes: a call without a key that pays for itself (x402, a Payment credential)
-- is served and charged to this tenant, the account the operator names.
ALTER TABLE routes ADD COLUMN pay_per_call_tenant_id BIGINT REFERENCES tenants (id);
