//! How fast the settlement writer records debits, alone: N debits spread over T tenants,
//! timed from the first hand-over to the last commit. Prints debits per second and CPU µs
//! per debit (this process, all threads).
//!
//! `cargo run --release -p tollgate-core --example settlement_bench -- 100000 1000`

use std::time::Instant;

use tollgate_core::live::settlement::{Debit, Settlement};
use tollgate_core::store::credits::TopUp;
use tollgate_core::store::plans::PlanCreate;
use tollgate_core::store::tenants::TenantCreate;
use tollgate_core::{Command, Console, Ctx};

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let debits: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let tenants: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("temp dir");
        let console = Console::open(&dir.path().join("bench.db")).await.expect("database");
        let ctx = Ctx::now("bench");
        PlanCreate { name: "Bench".into(), ..Default::default() }.run(&console, &ctx).await.expect("plan");
        for t in 0..tenants {
            let slug = format!("t{t}");
            TenantCreate { name: slug.clone(), plan: "bench".into(), ..Default::default() }
                .run(&console, &ctx)
                .await
                .expect("tenant");
            TopUp { tenant: slug, amount: 1_000_000_000, idempotency_key: "seed".into(), note: None, paid_minor: None }
                .run(&console, &ctx)
                .await
                .expect("top-up");
        }
        let (settlement, writer) = Settlement::spawn(console.store().clone());
        let (started, cpu) = (Instant::now(), cpu_seconds());
        for i in 0..debits {
            let tenant_id = (i % tenants) as i64 + 1;
            settlement.record(Debit { tenant_id, amount: 1, request_id: &format!("req_{i}"), at: chrono::Utc::now() });
            if i % 256 == 0 {
                tokio::task::yield_now().await;
            }
        }
        settlement.stop().await.expect("every debit written");
        writer.await.expect("writer");
        let (secs, cpu) = (started.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        println!(
            "settlement: {debits} debits over {tenants} tenants in {:.2} s: {:.0} debits/s, {:.1} µs CPU per debit",
            secs,
            debits as f64 / secs,
            cpu * 1e6 / debits as f64
        );
    });
}
