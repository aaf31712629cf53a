//! Served usage reaches the ledger summed per tenant; the period's count is stored, not
//! recomputed; batched flushes and strict commits add to the tenant's open usage entry,
//! and each strict request's charge is found through its record in the request log.

use std::sync::Arc;

use chrono::TimeDelta;
use tollgate_core::console::verify::Verify;
use tollgate_core::live::Live;
use tollgate_core::live::settlement::{self, Debit, Settlement};
use tollgate_core::store::charges::{self, ChargeShow};
use tollgate_core::store::credits::{Adjust, Refund, TopUp};
use tollgate_core::store::ledger::{EntryKind, LedgerEntry, LedgerList};
use tollgate_core::store::settings::SettingsSet;
use tollgate_core::store::subscriptions::Renew;
use tollgate_core::store::tenants::TenantShow;

use crate::common::{
    World, assert_code, assert_invalid, at, on_postgres, sqlite_world, strict_request, t0, with_request_log, world,
};

/// (debit entries, requests they cover, stored period count) of tenant `id`.
async fn usage_of(w: &World, id: i64) -> (i64, i64, i64) {
    tollgate_core::on!(&mut w.console.store().reader().await.unwrap(), |c| sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM ledger WHERE tenant_id = $1 AND kind = 'debit'),
                (SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM ledger WHERE tenant_id = $1 AND kind = 'debit'),
                (SELECT period_used FROM tenants WHERE id = $1)",
    )
    .bind(id)
    .fetch_one(c)
    .await)
    .unwrap()
}

#[tokio::test]
async fn batched_usage_goes_into_one_open_entry_per_tenant_and_the_period_count_is_stored() {
    let w = world().await;
    w.plan("pro", 1000).await;
    let acme = w.tenant("acme", "pro").await.tenant.id;
    let globex = w.tenant("globex", "pro").await.tenant.id;
    // Entries stay open five intervals: 1 s here.
    w.run(SettingsSet { usage_flush_ms: Some(200), ..Default::default() }).await.unwrap();
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
    assert_eq!(usage_of(&w, acme).await, (1, 35, 35), "the next flush adds to the open entry, no new row");
    assert_chain(&ledger_of(&w, "acme").await);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    served(acme, 4);
    settlement.flush().await.unwrap();
    assert_eq!(usage_of(&w, acme).await, (2, 39, 39), "an entry older than five intervals is closed: a new one");
    assert_chain(&ledger_of(&w, "acme").await);
    settlement.stop().await.unwrap();
    writer.await.unwrap();
    assert_eq!(live.tenant(acme).unwrap().balance, 1000 - 2 * 39, "memory spent the charges, not the reservations");
    assert!(w.run(Verify {}).await.unwrap().ok, "balances, counts and ledger agree");

    let restarted = Live::load(w.console.store()).await.unwrap();
    assert_eq!(restarted.tenant(acme).unwrap().period_used, 39, "start-up reads the stored count");

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
    tollgate_core::on!(&mut *write, |c| sqlx::query("UPDATE tenants SET period_used = 7").execute(c).await.map(drop))
        .unwrap();
    write.commit().await.unwrap();
    let report = w.run(Verify {}).await.unwrap();
    assert!(!report.ok, "a wrong count fails verify");
    let found: Vec<(&str, i64, i64)> =
        report.period_count_mismatches.iter().map(|m| (m.tenant.as_str(), m.stored, m.ledger)).collect();
    assert_eq!(found, vec![("acme", 7, 0)], "naming the tenant and both figures");
}

/// A live state whose strict usage entries stay open `flush_ms`, and a settlement writing
/// for it.
async fn strict_writer(w: &World, flush_ms: i64) -> (Arc<Live>, Settlement, tokio::task::JoinHandle<()>) {
    w.run(SettingsSet { usage_flush_ms: Some(flush_ms), ..Default::default() }).await.unwrap();
    let live = Arc::new(Live::load(w.console.store()).await.unwrap());
    let (settlement, writer) = Settlement::spawn_with(w.console.store().clone(), Some(live.clone()));
    (live, settlement, writer)
}

/// Tenant `slug`'s ledger, oldest first.
async fn ledger_of(w: &World, slug: &str) -> Vec<LedgerEntry> {
    let mut entries = w.run(LedgerList { tenant: slug.into(), ..Default::default() }).await.unwrap().0;
    entries.reverse();
    entries
}

/// Each entry's `balance_after` is the one before plus its amount.
#[track_caller]
fn assert_chain(entries: &[LedgerEntry]) {
    let mut balance = 0;
    for e in entries {
        balance += e.amount;
        assert_eq!(e.balance_after, balance, "the balance_after chain holds at entry {}", e.id);
    }
}

#[tokio::test]
async fn strict_commits_within_the_interval_add_to_one_open_entry() {
    let mut w = world().await;
    let log = with_request_log(&mut w);
    w.plan("pro", 1000).await;
    let acme = w.tenant("acme", "pro").await.tenant.id;
    let (live, settlement, writer) = strict_writer(&w, 60_000).await;
    for n in 0..40 {
        // One after another: each its own commit, and on SQLite its own fold of the journal
        // (each a write that adds to the open entry).
        strict_request(&settlement, &live, &log, acme, 1 + n as i64 % 3, n).await;
        settlement.flush().await.unwrap();
    }
    let charged: i64 = (0..40).map(|n| 1 + n % 3).sum();
    settlement.flush().await.unwrap(); // folds the strict journal (SQLite)
    let entries = ledger_of(&w, "acme").await;
    let debits: Vec<&LedgerEntry> = entries.iter().filter(|e| e.kind == EntryKind::Debit).collect();
    assert_eq!(debits.len(), 1, "40 commits, one usage entry: {debits:?}");
    assert_eq!((debits[0].requests, debits[0].amount), (40, -charged), "covering every call and credit");
    assert_eq!(debits[0].created_at, t0(), "its time is when it opened");
    assert_chain(&entries);
    assert_eq!(usage_of(&w, acme).await, (1, 40, 40), "and the period counts each call");
    let report = w.run(Verify {}).await.unwrap();
    assert!(report.ok, "balance == sum(ledger): {report:?}");
    settlement.stop().await.unwrap();
    writer.await.unwrap();
    assert_eq!(live.tenant(acme).unwrap().balance, 1000 - charged);
}

#[tokio::test]
async fn a_console_movement_closes_the_open_entry_and_the_next_commit_opens_another() {
    let mut w = world().await;
    let log = with_request_log(&mut w);
    w.plan("pro", 100).await;
    let acme = w.tenant("acme", "pro").await.tenant.id;
    let (live, settlement, writer) = strict_writer(&w, 60_000).await;
    let console = w.console.clone().with_live(live.clone());
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(strict_request(&settlement, &live, &log, acme, 2, n).await);
    }
    settlement.flush().await.unwrap();
    let topup = TopUp { tenant: "acme".into(), amount: 50, idempotency_key: "t1".into(), note: None, paid_minor: None };
    tollgate_core::Command::run(topup, &console, &at(0)).await.unwrap();
    for n in 3..5 {
        ids.push(strict_request(&settlement, &live, &log, acme, 2, n).await);
    }
    settlement.flush().await.unwrap();
    let entries = ledger_of(&w, "acme").await;
    // Each request is found in the entry that took its charge, on either side of the top-up.
    let (first, second) = (entries[1].id, entries[3].id);
    for (n, id) in ids.iter().enumerate() {
        let shown = w.run(ChargeShow { request_id: id.clone() }).await.unwrap();
        assert_eq!(shown.entry_id, Some(if n < 3 { first } else { second }), "request {n}'s entry");
    }
    let kinds: Vec<(EntryKind, i64, i64)> = entries.iter().map(|e| (e.kind, e.amount, e.requests)).collect();
    assert_eq!(
        kinds,
        vec![
            (EntryKind::Grant, 100, 1),
            (EntryKind::Debit, -6, 3),
            (EntryKind::Topup, 50, 1),
            (EntryKind::Debit, -4, 2)
        ],
        "the usage before the top-up stays where it was; after it, a new entry"
    );
    assert_chain(&entries);
    assert_eq!(entries.last().unwrap().balance_after, 140);
    assert!(w.run(Verify {}).await.unwrap().ok);
    settlement.stop().await.unwrap();
    writer.await.unwrap();
}

#[tokio::test]
async fn past_the_flush_interval_a_strict_commit_opens_a_new_entry() {
    let mut w = world().await;
    let log = with_request_log(&mut w);
    w.plan("pro", 100).await;
    let acme = w.tenant("acme", "pro").await.tenant.id;
    let (live, settlement, writer) = strict_writer(&w, 10).await;
    strict_request(&settlement, &live, &log, acme, 1, 0).await;
    strict_request(&settlement, &live, &log, acme, 1, 1).await;
    // Whatever the two above did, the next one comes later than the span of a strict
    // entry (five intervals of 10 ms).
    tokio::time::sleep(std::time::Duration::from_millis(80)).await;
    settlement.flush().await.unwrap();
    let before = usage_of(&w, acme).await.0;
    strict_request(&settlement, &live, &log, acme, 1, 2).await;
    settlement.flush().await.unwrap();
    let (entries, requests, counted) = usage_of(&w, acme).await;
    assert_eq!(entries, before + 1, "a new entry once the open one is older than the interval");
    assert_eq!((requests, counted), (3, 3));
    assert_chain(&ledger_of(&w, "acme").await);
    assert!(w.run(Verify {}).await.unwrap().ok);
    settlement.stop().await.unwrap();
    writer.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_strict_charges_share_commits_and_each_is_found_shown_and_refunded_by_its_request_id() {
    let mut w = world().await;
    let log = with_request_log(&mut w);
    w.plan("pro", 10_000).await;
    let acme = w.tenant("acme", "pro").await.tenant.id;
    let (live, settlement, writer) = strict_writer(&w, 60_000).await;
    let tasks: Vec<_> = (0..200)
        .map(|n| {
            let (live, settlement, log) = (live.clone(), settlement.clone(), log.clone());
            tokio::spawn(async move { strict_request(&settlement, &live, &log, acme, 1 + n as i64 % 5, n).await })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    let charged: i64 = (0..200).map(|n| 1 + n % 5).sum();
    // Before the fold (SQLite keeps strict charges in its journal until the next flush) a
    // charge is found all the same, not yet in an entry.
    let waiting = w.run(ChargeShow { request_id: ids[7].clone() }).await.unwrap();
    assert_eq!(waiting.amount, 3, "found while it waits for the fold");
    if !on_postgres() {
        assert_eq!(waiting.entry_id, None, "in the journal, no entry yet");
        assert_eq!(usage_of(&w, acme).await, (0, 0, 0), "the ledger has none of it yet");
    }
    settlement.flush().await.unwrap();
    assert_eq!(usage_of(&w, acme).await, (1, 200, 200), "every strict request covered and counted, in one entry");
    let t = live.tenant(acme).unwrap();
    assert_eq!((t.balance, t.reserved), (10_000 - charged, 0), "each spent its charge");
    let mut conn = w.console.store().reader().await.unwrap();
    for (n, id) in ids.iter().enumerate() {
        let c = charges::charged_request(&mut conn, Some(&log), id).await.unwrap().expect("on record");
        assert_eq!((c.tenant.as_str(), c.amount), ("acme", 1 + n as i64 % 5), "{id}: whose and how much");
    }
    drop(conn);
    let shown = w.run(ChargeShow { request_id: ids[7].clone() }).await.unwrap();
    assert_eq!((shown.amount, shown.charged_at), (3, t0()), "the console command finds it");
    let entry = ledger_of(&w, "acme").await.into_iter().find(|e| e.kind == EntryKind::Debit).unwrap();
    assert_eq!(shown.entry_id, Some(entry.id), "in the entry that holds it");
    assert_code(w.run(ChargeShow { request_id: "req_5f3a9c1e_000000099999".into() }).await, "NOT_FOUND");
    assert_code(w.run(ChargeShow { request_id: "req-none".into() }).await, "NOT_FOUND");
    let refund = |amount, key: &str| Refund {
        tenant: "acme".into(),
        amount,
        idempotency_key: key.into(),
        request_id: ids[7].clone(),
        reason: None,
    };
    let refunded = w.run(refund(3, "r1")).await.unwrap();
    assert_eq!(refunded.entry.request_id.as_deref(), Some(ids[7].as_str()), "refunded by its id");
    assert_invalid(w.run(refund(1, "r2")).await, "amount");
    settlement.stop().await.unwrap();
    writer.await.unwrap();
    assert!(w.run(Verify {}).await.unwrap().ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_thousand_strict_charges_grow_the_database_by_a_few_bytes_each() {
    let mut w = sqlite_world().await; // counts SQLite's pages
    let log = with_request_log(&mut w);
    w.plan("pro", 100_000).await;
    let mut tenants = Vec::new();
    for n in 0..20 {
        tenants.push(w.tenant(&format!("t{n}"), "pro").await.tenant.id);
    }
    // Folded as it runs (every 100 ms), as the default interval does in service.
    let (live, settlement, writer) = strict_writer(&w, 100).await;
    let store = w.console.store().clone();
    let pages = async || -> i64 {
        let mut conn = store.reader().await.unwrap();
        tollgate_core::on!(&mut conn, |c| {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut *c).await.unwrap();
            sqlx::query_scalar("PRAGMA page_count").fetch_one(&mut *c).await.unwrap()
        })
    };
    let page_size: i64 =
        tollgate_core::on!(&mut store.reader().await.unwrap(), |c| sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(c)
            .await
            .unwrap());
    let before = pages().await;
    const CHARGES: u64 = 20_000;
    const CLIENTS: u64 = 100;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (live, settlement, log, tenants) = (live.clone(), settlement.clone(), log.clone(), tenants.clone());
            tokio::spawn(async move {
                for n in (c..CHARGES).step_by(CLIENTS as usize) {
                    let tenant = tenants[n as usize % tenants.len()];
                    strict_request(&settlement, &live, &log, tenant, 1, n).await;
                }
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    settlement.stop().await.unwrap();
    writer.await.unwrap();
    let growth = (pages().await - before) * page_size;
    let per_request = growth as f64 / CHARGES as f64;
    assert!(per_request < 20.0, "{growth} bytes for {CHARGES} strict charges: {per_request:.1} per request");
    let (entries, requests): (i64, i64) = tollgate_core::on!(&mut store.reader().await.unwrap(), |c| sqlx::query_as(
        "SELECT COUNT(*), CAST(SUM(requests) AS BIGINT) FROM ledger WHERE kind = 'debit'"
    )
    .fetch_one(c)
    .await
    .unwrap());
    assert_eq!(requests, CHARGES as i64, "every charge covered");
    // Some 200 commits over 20 tenants: one entry per tenant per commit would be ~4,000.
    assert!(entries < 200, "the tenants' open entries held them ({entries} entries)");
    assert!(w.run(Verify {}).await.unwrap().ok);
}

#[tokio::test]
async fn the_database_lets_only_the_newest_usage_entry_grow_and_nothing_else_change() {
    let mut w = world().await;
    let log = with_request_log(&mut w);
    w.plan("pro", 100).await;
    let acme = w.tenant("acme", "pro").await.tenant.id;
    let (live, settlement, writer) = strict_writer(&w, 60_000).await;
    strict_request(&settlement, &live, &log, acme, 2, 0).await;
    settlement.stop().await.unwrap();
    writer.await.unwrap();
    let usage = ledger_of(&w, "acme").await.pop().unwrap();
    let grant = ledger_of(&w, "acme").await.remove(0);
    let store = w.console.store().clone();
    let refused = async |sql: &'static str, id: i64| {
        let mut tx = store.begin().await.unwrap();
        tollgate_core::on!(&mut *tx, |c| sqlx::query(sql).bind(id).execute(c).await.map(drop)).is_err()
    };
    let grow = "UPDATE ledger SET amount = amount - 1, requests = requests + 1, balance_after = balance_after - 1 WHERE id = $1";
    assert!(
        refused("UPDATE ledger SET amount = amount + 1, balance_after = balance_after + 1 WHERE id = $1", usage.id)
            .await,
        "usage never shrinks"
    );
    assert!(refused("UPDATE ledger SET created_at = '2000-01-01' WHERE id = $1", usage.id).await, "nor moves in time");
    assert!(
        refused("UPDATE ledger SET amount = amount - 1, requests = requests + 1 WHERE id = $1", usage.id).await,
        "nor breaks the chain"
    );
    assert!(refused(grow, grant.id).await, "a grant never changes");
    assert!(!refused(grow, usage.id).await, "the newest usage entry may take one more call");
    let topup = TopUp { tenant: "acme".into(), amount: 5, idempotency_key: "t".into(), note: None, paid_minor: None };
    w.run(topup).await.unwrap();
    assert!(refused(grow, usage.id).await, "but not once another entry follows it");
}

#[tokio::test]
async fn a_renewal_closes_the_open_entry_even_when_it_grants_nothing() {
    let w = world().await;
    w.plan("free", 0).await; // a renewal posts no grant: only the period tells
    let acme = w.tenant("acme", "free").await.tenant.id;
    let topup = TopUp { tenant: "acme".into(), amount: 10, idempotency_key: "t".into(), note: None, paid_minor: None };
    w.run(topup).await.unwrap();
    let (live, settlement, writer) = strict_writer(&w, 60_000).await;
    let charge = async |at| {
        let debit = Debit { tenant_id: acme, amount: 1, request_id: "r", at };
        settlement.record_durably(debit, live.reserve(acme, 1).unwrap()).await.unwrap();
        settlement.flush().await.unwrap(); // into the ledger before the renewal
    };
    charge(t0() + TimeDelta::hours(1)).await;
    let renewed = at(40);
    w.run_at(&renewed, Renew { tenant: "acme".into(), reason: None }).await.unwrap();
    charge(renewed.now + TimeDelta::hours(1)).await;
    assert_eq!(usage_of(&w, acme).await, (2, 2, 1), "the new period's call opens its own entry, and counts");
    assert!(w.run(Verify {}).await.unwrap().ok);
    settlement.stop().await.unwrap();
    writer.await.unwrap();
}

#[tokio::test]
async fn a_console_debit_cannot_spend_what_unfolded_strict_charges_hold() {
    let mut w = world().await;
    let log = with_request_log(&mut w);
    w.plan("pro", 10).await;
    let acme = w.tenant("acme", "pro").await.tenant.id;
    let (live, settlement, writer) = strict_writer(&w, 60_000).await;
    let console = w.console.clone().with_live(live.clone());
    strict_request(&settlement, &live, &log, acme, 8, 0).await; // durable, not yet folded (SQLite)
    let adjust = |amount: i64, key: &str| Adjust {
        tenant: "acme".into(),
        amount,
        idempotency_key: key.into(),
        reason: "correction".into(),
    };
    let shown = w.run(TenantShow { tenant: "acme".into() }).await.unwrap();
    let expected_stored = if on_postgres() { 2 } else { 10 };
    assert_eq!(shown.tenant.balance, expected_stored, "the stored balance does not hold the journaled charge yet");
    let unfolded = if on_postgres() { 0 } else { 8 };
    assert_eq!(shown.unfolded_strict_credits, unfolded, "the tenant's page can tell committed from in memory");
    let overdraw = tollgate_core::Command::run(adjust(-5, "a1"), &console, &at(0)).await;
    assert_code(overdraw, "INSUFFICIENT_CREDITS");
    tollgate_core::Command::run(adjust(-2, "a2"), &console, &at(0)).await.expect("what is left can be taken");
    assert_eq!(live.tenant(acme).unwrap().balance, 0);
    settlement.flush().await.unwrap();
    let entries = ledger_of(&w, "acme").await;
    assert_chain(&entries);
    assert_eq!(entries.last().unwrap().balance_after, 0, "every credit accounted for, none overdrawn");
    assert_eq!(w.run(TenantShow { tenant: "acme".into() }).await.unwrap().unfolded_strict_credits, 0, "folded");
    assert!(w.run(Verify {}).await.unwrap().ok);
    settlement.stop().await.unwrap();
    writer.await.unwrap();
}

#[tokio::test]
async fn a_journal_a_crashed_writer_left_is_folded_once_and_each_request_is_found_in_its_entry() {
    let mut w = sqlite_world().await; // the journal is SQLite's (PostgreSQL commits to the ledger)
    let log = with_request_log(&mut w);
    w.plan("pro", 1000).await;
    let acme = w.tenant("acme", "pro").await.tenant.id;
    let globex = w.tenant("globex", "pro").await.tenant.id;
    let (live, settlement, writer) = strict_writer(&w, 60_000).await;
    let mut ids = Vec::new();
    for n in 0..20 {
        let tenant = if n % 2 == 0 { acme } else { globex };
        ids.push((tenant, strict_request(&settlement, &live, &log, tenant, 1 + n as i64 % 3, n).await));
    }
    // The process dies: the writer's memory (the sums that would fold the rows) is gone.
    writer.abort();
    let _ = writer.await;
    drop(settlement);
    let store = w.console.store().clone();
    assert_eq!(usage_of(&w, acme).await, (0, 0, 0), "nothing in the ledger yet");
    let charged: i64 = (0..20).map(|n| 1 + n % 3).sum();
    let report = w.run(Verify {}).await.unwrap();
    assert!(report.ok, "balances equal their ledgers meanwhile: {report:?}");
    assert_eq!(
        (report.unfolded_strict_requests, report.unfolded_strict_credits),
        (20, charged),
        "and verify says what waits in the journal"
    );
    assert_eq!(settlement::fold_journal(&store).await.unwrap(), (20, charged), "each commit's row, every credit");
    assert_eq!(settlement::fold_journal(&store).await.unwrap(), (0, 0), "folded once: nothing left to charge again");
    assert_eq!(usage_of(&w, acme).await, (1, 10, 10));
    assert_eq!(usage_of(&w, globex).await, (1, 10, 10));
    assert!(w.run(Verify {}).await.unwrap().ok);
    for (tenant, id) in &ids {
        let slug = if *tenant == acme { "acme" } else { "globex" };
        let shown = w.run(ChargeShow { request_id: id.clone() }).await.unwrap();
        let entry = ledger_of(&w, slug).await.into_iter().find(|e| e.kind == EntryKind::Debit).unwrap();
        assert_eq!((shown.tenant.as_str(), shown.entry_id), (slug, Some(entry.id)), "{id}");
    }
}
