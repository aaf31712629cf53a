//! Console commands against a real SQLite file: one test binary, one module per topic.

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
