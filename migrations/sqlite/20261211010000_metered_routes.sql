-- Metered routes: a call charged what the upstream reports (a header, or token usage priced
-- per model), at most `max_cost`, reserved before forwarding.
ALTER TABLE routes ADD COLUMN metering TEXT NOT NULL DEFAULT 'fixed';
ALTER TABLE routes ADD COLUMN max_cost INTEGER;
ALTER TABLE routes ADD COLUMN charge_header TEXT;
ALTER TABLE routes ADD COLUMN on_cancel TEXT NOT NULL DEFAULT 'nothing';
