-- A private CA (PEM) an https:// upstream's certificate chains to, per route.
ALTER TABLE routes ADD COLUMN upstream_ca TEXT;
