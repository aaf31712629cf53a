//! Served usage reaches the ledger summed per tenant; the period's count is stored, not
//! recomputed; strict requests keep each one's charge, pruned after the retention.

use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use tollgate_core::charges::{self, ChargeShow};
use tollgate_core::live::Live;
use tollgate_core::settlement::{Debit, Settlement};
use tollgate_core::subscriptions::Renew;
use tollgate_core::verify::Verify;

use crate::common::{World, assert_code, at, t0, world};

/// (debit entries, requests they cover, stored period count) of tenant `id`.
async fn usage_of(w: &World, id: i64) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM ledger WHERE tenant_id = ?1 AND kind = 'debit'),
                (SELECT COALESCE(SUM(requests), 0) FROM ledger WHERE tenant_id = ?1 AND kind = 'debit'),
                (SELECT period_used FROM subscriptions WHERE tenant_id = ?1)",
    )
    .bind(id)
    .fetch_one(w.console.store().read())
    .await
    .unwrap()
}

#[tokio::test]
async fn batched_usage_is_one_entry_per_tenant_per_flush_and_the_period_count_is_stored() {
    let w = world().await;
    w.plan("pro", 1000).await;
    let acme = w.tenant("acme", "pro").await.tenant.id;
    let globex = w.tenant("globex", "pro").await.tenant.id;
    let live = Arc::new(Live::load(w.console.store()).await.unwrap());
    let (settlement, writer) = Settlement::spawn_with(w.console.store().clone(), Some(live.clone()));
    let served = |id, n: i64| {
        for i in 0..n {
            let amount = live.reserve(id, 3).unwrap().hand_over_part(2); // charged less than reserved
            settlement.record(Debit { tenant_id: id, amount, request_id: "r", at: t0() + TimeDelta::minutes(i) });
        }
    };
    served(acme, 30);
    served(globex, 20);
    settlement.flush().await.unwrap();
    assert_eq!(usage_of(&w, acme).await, (1, 30, 30), "one entry covering 30 requests, counted");
    assert_eq!(usage_of(&w, globex).await, (1, 20, 20));
    served(acme, 5);
    settlement.flush().await.unwrap();
    assert_eq!(usage_of(&w, acme).await, (2, 35, 35), "one more entry for the next flush");
    settlement.stop().await.unwrap();
    writer.await.unwrap();
    assert_eq!(live.tenant(acme).unwrap().balance, 1000 - 2 * 35, "memory spent the charges, not the reservations");
    assert!(w.run(Verify {}).await.unwrap().ok, "balances, counts and ledger agree");

    let restarted = Live::load(w.console.store()).await.unwrap();
    assert_eq!(restarted.tenant(acme).unwrap().period_used, 35, "start-up reads the stored count");

    // A renewal opens a new period: the count starts again.
    let renewed = at(40);
    w.run_at(&renewed, Renew { tenant: "acme".into(), reason: None }).await.unwrap();
    assert_eq!(usage_of(&w, acme).await.2, 0, "the new period starts at zero");
    let (settlement, _writer) = Settlement::spawn(w.console.store().clone());
    settlement.record(Debit { tenant_id: acme, amount: 1, request_id: "r", at: renewed.now + TimeDelta::hours(1) });
    settlement.flush().await.unwrap();
    assert_eq!(usage_of(&w, acme).await.2, 1, "and counts the new period's requests");
    assert!(w.run(Verify {}).await.unwrap().ok);
}

#[tokio::test]
async fn verify_reports_a_stored_period_count_that_disagrees_with_the_ledger() {
    let w = world().await;
    w.plan("pro", 1000).await;
    w.tenant("acme", "pro").await;
    let mut write = w.console.store().begin().await.unwrap();
    sqlx::query("UPDATE subscriptions SET period_used = 7").execute(&mut *write).await.unwrap();
    write.commit().await.unwrap();
    let report = w.run(Verify {}).await.unwrap();
    assert!(!report.ok, "a wrong count fails verify");
    let found: Vec<(&str, i64, i64)> =
        report.period_count_mismatches.iter().map(|m| (m.tenant.as_str(), m.stored, m.ledger)).collect();
    assert_eq!(found, vec![("acme", 7, 0)], "naming the tenant and both figures");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_strict_charges_share_commits_and_each_is_found_by_its_request_id() {
    let w = world().await;
    w.plan("pro", 10_000).await;
    let acme = w.tenant("acme", "pro").await.tenant.id;
    let live = Arc::new(Live::load(w.console.store()).await.unwrap());
    let (settlement, writer) = Settlement::spawn_with(w.console.store().clone(), Some(live.clone()));
    let tasks: Vec<_> = (0..200)
        .map(|n| {
            let (live, settlement) = (live.clone(), settlement.clone());
            tokio::spawn(async move {
                let reservation = live.reserve(acme, 5).unwrap();
                let id = format!("req-{n}");
                let debit = Debit { tenant_id: acme, amount: 1 + n % 5, request_id: &id, at: t0() };
                settlement.record_durably(debit, reservation).await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let charged: i64 = (0..200).map(|n| 1 + n % 5).sum();
    let (entries, requests, counted) = usage_of(&w, acme).await;
    assert_eq!((requests, counted), (200, 200), "every strict request covered and counted");
    assert!(entries < 200, "commits shared by concurrent callers write one entry per tenant ({entries})");
    let t = live.tenant(acme).unwrap();
    assert_eq!((t.balance, t.reserved), (10_000 - charged, 0), "each spent its charge, the rest went back");
    let mut conn = w.console.store().read().acquire().await.unwrap();
    for n in 0..200 {
        let c = charges::charged_request(&mut conn, &format!("req-{n}")).await.unwrap().expect("on record");
        assert_eq!((c.tenant.as_str(), c.amount), ("acme", 1 + n % 5), "req-{n}: whose and how much");
    }
    drop(conn);
    let shown = w.run(ChargeShow { request_id: "req-7".into() }).await.unwrap();
    assert_eq!((shown.amount, shown.charged_at), (3, t0()), "the console command finds it");
    assert_code(w.run(ChargeShow { request_id: "req-none".into() }).await, "NOT_FOUND");
    settlement.stop().await.unwrap();
    writer.await.unwrap();
    assert!(w.run(Verify {}).await.unwrap().ok);
}

#[tokio::test]
async fn per_request_charges_past_the_retention_are_pruned_in_batches_and_the_rest_stay() {
    let w = world().await;
    w.plan("pro", 100_000).await;
    let acme = w.tenant("acme", "pro").await.tenant.id;
    let live = Live::load(w.console.store()).await.unwrap();
    let (settlement, _writer) = Settlement::spawn(w.console.store().clone());
    let now = Utc::now();
    let old = 2 * charges::PRUNE_BATCH + 17;
    for n in 0..old + 5 {
        // Written one commit each, oldest first, as they would have been over time.
        let at = if n < old { now - TimeDelta::days(31) } else { now };
        let id = format!("r{n}");
        let debit = Debit { tenant_id: acme, amount: 1, request_id: &id, at };
        settlement.record_durably(debit, live.reserve(acme, 1).unwrap()).await.unwrap();
    }
    assert_eq!(charges::prune(w.console.store(), now).await.unwrap(), old as u64, "every old record, in batches");
    let mut conn = w.console.store().read().acquire().await.unwrap();
    assert!(charges::charged_request(&mut conn, "r0").await.unwrap().is_none(), "the oldest is gone");
    assert!(charges::charged_request(&mut conn, &format!("r{old}")).await.unwrap().is_some(), "recent ones stay");
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM charged_requests").fetch_one(&mut *conn).await.unwrap();
    assert_eq!(left, 5);
    drop(conn);
    assert!(w.run(Verify {}).await.unwrap().ok, "the ledger itself is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_top_up_during_a_large_prune_waits_for_one_batch_not_the_whole_prune() {
    use tollgate_core::credits::TopUp;
    let w = world().await;
    w.plan("pro", 100).await;
    w.tenant("acme", "pro").await;
    // 50 batches of records whose entry (the grant at t0) is long past the retention.
    let backlog = 50 * charges::PRUNE_BATCH;
    let mut write = w.console.store().begin().await.unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
         INSERT INTO charged_requests (request_id, entry_id, amount) SELECT 'old-' || i, 1, 1 FROM n",
    )
    .bind(backlog)
    .execute(&mut *write)
    .await
    .unwrap();
    write.commit().await.unwrap();
    let left = async || -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM charged_requests").fetch_one(w.console.store().read()).await.unwrap()
    };
    let prune = tokio::spawn({
        let store = w.console.store().clone();
        async move { charges::prune(&store, Utc::now()).await.unwrap() }
    });
    while left().await == backlog {
        tokio::task::yield_now().await; // the first batch is not gone yet
    }
    let topup =
        TopUp { tenant: "acme".into(), amount: 5, idempotency_key: "during".into(), note: None, paid_minor: None };
    assert_eq!(w.run(topup).await.unwrap().balance, 105, "the top-up commits");
    let remaining = left().await;
    assert!(remaining > 0, "while the prune still had batches to go: it took its turn between two of them");
    assert_eq!(prune.await.unwrap(), backlog as u64, "and the prune then finished");
    assert_eq!(left().await, 0);
}
