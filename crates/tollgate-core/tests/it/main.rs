//! Console commands against a real database: one test binary, one module per topic.
//!
//! The worlds run on SQLite, or with `TOLLGATE_TEST_ENGINE=postgres` on a PostgreSQL
//! server the binary starts (`make test` runs both).

mod audit;
mod commands;
mod common;
mod credits;
mod import;
mod keys;
mod layers;
mod ledger;
mod live_order;
mod overview;
mod payments;
mod pg_server;
mod plans;
mod postgres;
mod routes;
mod settings;
mod small_disk;
mod storage_faults;
mod subscriptions;
mod tenants;
mod text_fields;
mod traffic_history;
mod usage;
mod webhooks;
