//! Reconciliation: the gateway's memory compared with the database, on `verify` and on
//! its own. Changes made behind the console's back are found, counted and repaired;
//! normal operation, however busy, counts none.

use std::time::{Duration, Instant};

use serde_json::json;
use tollgate_core::store::credits::TopUp;
use tollgate_core::store::keys::KeyIssue;
use tollgate_core::store::tenants::{TenantBlock, TenantResume, TenantSuspend};
use tollgate_core::{Command, Ctx};

use crate::live_node::fixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_finds_a_revocation_made_behind_the_gateways_back_and_repairs_it() {
    let mut f = fixture().await;
    assert_eq!(f.spend().await.0, 200, "the key works");
    let report = f.call("verify", json!({})).await;
    assert_eq!((&report["ok"], &report["drift"]), (&json!(true), &json!(0)), "nothing has drifted: {report}");

    sqlx::query("UPDATE api_keys SET revoked_at = ?").bind(chrono::Utc::now()).execute(&mut f.outside).await.unwrap();
    assert_eq!(f.spend().await.0, 200, "memory has not seen a change made behind its back");
    let report = f.call("verify", json!({})).await;
    assert_eq!(report["drift"], 1, "verify finds the one difference: {report}");
    assert_eq!(report["ok"], false, "and says so");
    assert_eq!(f.spend().await.0, 401, "and repairs it: the key is revoked in memory too");
    let report = f.call("verify", json!({})).await;
    assert_eq!((&report["ok"], &report["drift"]), (&json!(true), &json!(0)), "nothing is left to repair: {report}");
    f.node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_reconciles_on_its_own_and_counts_only_real_drift() {
    let mut f = fixture().await;
    f.node.reconcile_every(Duration::from_millis(5));

    // Normal operation while it reconciles: console writes to the tenant and its keys,
    // and traffic, all at once.
    let console = f.node.console().clone();
    let writes = tokio::spawn(async move {
        for i in 0..20 {
            let ctx = Ctx::now("test");
            let topup = TopUp {
                tenant: "acme".into(),
                amount: 10,
                idempotency_key: format!("t{i}"),
                note: None,
                paid_minor: None,
            };
            topup.run(&console, &ctx).await.unwrap();
            TenantSuspend { tenant: "acme".into(), reason: None }.run(&console, &ctx).await.unwrap();
            KeyIssue { tenant: "acme".into(), ..Default::default() }.run(&console, &ctx).await.unwrap();
            TenantResume { tenant: "acme".into(), reason: None }.run(&console, &ctx).await.unwrap();
        }
    });
    while !writes.is_finished() {
        f.spend().await;
    }
    writes.await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await; // a few more passes
    assert_eq!(f.node.drift(), 0, "normal operation never counts as drift");
    assert_eq!(f.spend().await.0, 200, "the tenant is active again");

    sqlx::query("UPDATE tenants SET standing = 'blocked'").execute(&mut f.outside).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while f.spend().await.0 != 403 {
        assert!(Instant::now() < deadline, "the block made behind the gateway's back was not found within 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(f.node.drift(), 1, "one difference, found and repaired");
    f.node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_on_its_way_to_memory_is_not_drift() {
    let mut f = fixture().await;
    assert_eq!(f.spend().await.0, 200, "the key works");
    f.settled().await;
    f.slow_next_commit(64).await;
    f.node.reconcile_every(Duration::from_millis(2));
    // Passes run while the block is in the database and not yet in memory.
    let block = TenantBlock { tenant: "acme".into(), reason: None };
    block.run(f.node.console(), &Ctx::now("test")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(f.spend().await.0, 403, "the block reached memory");
    assert_eq!(f.node.drift(), 0, "and no pass took it for drift");
    f.node.stop().await.unwrap();
}
