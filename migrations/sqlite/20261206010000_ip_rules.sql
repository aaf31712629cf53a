-- Address rules (issue 13): JSON arrays of CIDR blocks, per tenant and per route.
-- Deny wins over allow; an empty allow list lets every address through.
ALTER TABLE tenants ADD COLUMN ip_allow TEXT NOT NULL DEFAULT '[]';
ALTER TABLE tenants ADD COLUMN ip_deny TEXT NOT NULL DEFAULT '[]';
ALTER TABLE routes ADD COLUMN ip_allow TEXT NOT NULL DEFAULT '[]';
ALTER TABLE routes ADD COLUMN ip_deny TEXT NOT NULL DEFAULT '[]';
