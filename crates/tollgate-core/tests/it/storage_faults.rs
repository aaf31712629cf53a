//! A real full disk under the settlement writer and the console: nothing acknowledged is
//! lost, nothing is acknowledged that was not written, and everything waits for the space
//! to come back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::Connection;
use tollgate_core::console::verify::Verify;
use tollgate_core::live::Live;
use tollgate_core::live::settlement::{Debit, SettleError, Settlement};
use tollgate_core::store::credits::TopUp;
use tollgate_core::{Command, Console, Ctx};

use crate::common::assert_code;
use crate::small_disk::SmallDisk;

async fn wait_until(what: &str, deadline: Duration, mut done: impl AsyncFnMut() -> bool) {
    let until = Instant::now() + deadline;
    while !done().await {
        assert!(Instant::now() < until, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn ledger_debits(console: &Console, tenant_id: i64) -> i64 {
    tollgate_core::on!(&mut console.store().reader().await.unwrap(), |c| sqlx::query_scalar(
        "SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM ledger WHERE tenant_id = $1 AND kind = 'debit'"
    )
    .bind(tenant_id)
    .fetch_one(c)
    .await)
    .unwrap()
}

/// A database on `disk` with tenant acme on plan pro, granted 1,000,000 credits.
async fn acme_on(disk: &SmallDisk) -> (Console, i64) {
    let console = Console::open(&disk.path().join("tollgate.db")).await.expect("database opens");
    let ctx = Ctx::now("test");
    let plan = tollgate_core::store::plans::PlanCreate {
        name: "Pro".into(),
        slug: Some("pro".into()),
        credits_per_period: Some(1_000_000),
        ..Default::default()
    };
    plan.run(&console, &ctx).await.unwrap();
    let create = tollgate_core::store::tenants::TenantCreate {
        name: "Acme".into(),
        slug: Some("acme".into()),
        plan: "pro".into(),
        ..Default::default()
    };
    let tenant_id = create.run(&console, &ctx).await.unwrap().tenant.id;
    (console, tenant_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_full_disk_everything_acknowledged_is_written_and_nothing_else() {
    let Some(disk) = SmallDisk::mount(3) else { return };
    let ctx = Ctx::now("test");
    let (console, tenant_id) = acme_on(&disk).await;
    let live = Arc::new(Live::load(console.store()).await.unwrap());
    let console = console.with_live(live.clone());
    let (settlement, writer) = Settlement::spawn(console.store().clone());
    // Batched usage is summed per tenant: request ids are not kept.
    let debit = |_n: usize| Debit { tenant_id, amount: 1, request_id: "req", at: Utc::now() };

    disk.fill();
    // Batched charges are acknowledged at once (the gateway served them), whatever the
    // disk does; keep charging until the writer has met the full disk.
    let mut acknowledged = 0;
    while !console.store().health().is_failing() {
        assert!(acknowledged < 200_000, "the full disk was never noticed");
        live.reserve(tenant_id, 1).unwrap().spend();
        settlement.record(debit(acknowledged));
        acknowledged += 1;
        if acknowledged % 500 == 0 {
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }
    for _ in 0..1000 {
        live.reserve(tenant_id, 1).unwrap().spend();
        settlement.record(debit(acknowledged));
        acknowledged += 1;
    }
    let balance_before = live.tenant(tenant_id).unwrap().balance;

    // A strict charge fails at once and gives its credits back.
    let started = Instant::now();
    let reservation = live.reserve(tenant_id, 5).unwrap();
    let strict = settlement.record_durably(debit(999_999_999), reservation).await;
    assert!(matches!(strict, Err(SettleError::StorageUnavailable(_))), "strict fails closed: {strict:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "and fails fast, not after endless retries");
    assert_eq!(live.tenant(tenant_id).unwrap().balance, balance_before, "its reservation went back");

    // A console write is refused, clearly, and changes nothing in memory.
    let topup =
        TopUp { tenant: "acme".into(), amount: 5000, idempotency_key: "during".into(), note: None, paid_minor: None };
    assert_code(topup.run(&console, &ctx).await, "STORAGE_UNAVAILABLE");
    assert_eq!(live.tenant(tenant_id).unwrap().balance, balance_before, "memory unchanged by the refused top-up");
    assert!(console.store().health().status().error.is_some_and(|e| e.contains("full")), "the status names the cause");

    disk.free();
    wait_until("every acknowledged charge is in the ledger", Duration::from_secs(20), async || {
        ledger_debits(&console, tenant_id).await == acknowledged as i64
    })
    .await;
    wait_until("storage reads healthy again", Duration::from_secs(5), async || !console.store().health().is_failing())
        .await;

    // Writes are real commits again: a top-up lands, and no transaction stays open
    // (another connection can take the write lock at once).
    let topup =
        TopUp { tenant: "acme".into(), amount: 5000, idempotency_key: "after".into(), note: None, paid_minor: None };
    let moved = topup.run(&console, &ctx).await.expect("a top-up works once the disk has room");
    assert!(!moved.replayed, "it was applied, not replayed");
    let mut outside =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", disk.path().join("tollgate.db").display()))
            .await
            .unwrap();
    sqlx::query("PRAGMA busy_timeout = 0").execute(&mut outside).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut outside).await.expect("no write transaction was left open");
    sqlx::query("ROLLBACK").execute(&mut outside).await.unwrap();

    settlement.stop().await.expect("everything written");
    writer.await.unwrap();
    let stored: i64 = tollgate_core::on!(&mut console.store().reader().await.unwrap(), |c| sqlx::query_scalar(
        "SELECT balance FROM tenants WHERE id = $1"
    )
    .bind(tenant_id)
    .fetch_one(c)
    .await)
    .unwrap();
    assert_eq!(stored, 1_000_000 - acknowledged as i64 + 5000, "the database holds exactly what was acknowledged");
    assert_eq!(live.tenant(tenant_id).unwrap().balance, stored, "memory and database agree");
    let report = Verify {}.run(&console, &ctx).await.unwrap();
    assert!(report.ok, "verify passes: {report:?}");
    console.store().close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_on_a_full_disk_says_what_it_could_not_write() {
    let Some(disk) = SmallDisk::mount(3) else { return };
    let (console, tenant_id) = acme_on(&disk).await;
    let (settlement, writer) = Settlement::spawn(console.store().clone());
    disk.fill();
    let mut sent = 0i64;
    while !console.store().health().is_failing() {
        assert!(sent < 200_000, "the full disk was never noticed");
        settlement.record(Debit { tenant_id, amount: 3, request_id: "r", at: Utc::now() });
        sent += 1;
        if sent % 500 == 0 {
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }
    let error = settlement.stop().await.expect_err("the stop cannot write everything");
    writer.await.unwrap();
    let written = ledger_debits(&console, tenant_id).await;
    let owed: i64 = error.unwritten.iter().map(|u| u.requests).sum();
    assert_eq!(owed + written, sent, "every unwritten charge is named: {error}");
    assert!(error.to_string().contains(&format!("tenant id {tenant_id}")), "and whose it is: {error}");
    disk.free();
}
