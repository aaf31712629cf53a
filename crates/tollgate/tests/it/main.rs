//! The admin API through its router, and the real `tollgate` binary as a process.

mod admin_api;
mod admin_tls;
mod cli;
mod cli_output;
mod cluster;
mod drift;
mod hang_up;
mod https_gateway;
mod listeners;
mod live_node;
mod machine_payments;
mod memory;
mod metrics;
mod openai_client;
#[path = "../../../tollgate-core/tests/it/pg_server.rs"]
mod pg_server;
mod private_data;
mod process;
mod server;
#[path = "../../../tollgate-core/tests/it/small_disk.rs"]
mod small_disk;
mod storage_faults;
#[path = "../../../tollgate-gateway/tests/it/tls_server.rs"]
mod tls_server;
mod tls_upstream;
mod walkthrough;
