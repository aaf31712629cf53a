-- Spend caps per key: at most `budget` credits per UTC day or month. What a key spent in its
-- current period (`budget_since` its start) is written with its call counts.
ALTER TABLE api_keys ADD COLUMN budget BIGINT CHECK (budget >= 0);
ALTER TABLE api_keys ADD COLUMN budget_period TEXT NOT NULL DEFAULT 'month';
ALTER TABLE api_keys ADD COLUMN budget_spent BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN budget_since TIMESTAMPTZ;
