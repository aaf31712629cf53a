use std::sync::Arc;

use tollgate_core::Command;
use tollgate_core::console::verify::Verify;
use tollgate_core::live::Live;
use tollgate_core::live::settlement::{Debit, SettleError, Settlement};
use tollgate_core::store::credits::TopUp;
use tollgate_core::store::ledger::{Committed, LedgerList};

use tollgate_core::store::charges;
use tollgate_core::store::request_log::{RequestId, RequestRecord, Short};

use crate::common::{at, on_postgres, sqlite_world, strict_request, t0, with_request_log, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_writers_end_with_the_exact_balance() {
    let w = Arc::new(world().await);
    w.plan("pro", 0).await;
    let tenant_id = w.tenant("acme", "pro").await.tenant.id;
    let (settlement, _writer) = Settlement::spawn(w.console.store().clone());
    let mut tasks = Vec::new();
    for writer in 0..8 {
        let (w, settlement) = (w.clone(), settlement.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..1000 {
                if i % 2 == 0 {
                    let topup = TopUp {
                        tenant: "acme".into(),
                        amount: 3,
                        idempotency_key: format!("w{writer}-{i}"),
                        note: None,
                        paid_minor: None,
                    };
                    w.run(topup).await.expect("top-up succeeds");
                } else {
                    let debit = Debit { tenant_id, amount: 1, request_id: &format!("req-{writer}-{i}"), at: t0() };
                    settlement.record(debit);
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer finished");
    }
    settlement.stop().await.expect("every debit written");
    let balance: i64 = tollgate_core::on!(&mut w.console.store().reader().await.unwrap(), |c| sqlx::query_scalar(
        "SELECT balance FROM tenants WHERE id = $1"
    )
    .bind(tenant_id)
    .fetch_one(c)
    .await)
    .unwrap();
    assert_eq!(balance, 8 * (500 * 3 - 500), "every top-up and debit counted exactly once");
    let report = w.run(Verify {}).await.unwrap();
    assert!(report.ok, "verify passes: {report:?}");
    let (debits, requests): (i64, i64) =
        tollgate_core::on!(&mut w.console.store().reader().await.unwrap(), |c| sqlx::query_as(
            "SELECT COUNT(*), CAST(SUM(requests) AS BIGINT) FROM ledger WHERE tenant_id = $1 AND kind = 'debit'"
        )
        .bind(tenant_id)
        .fetch_one(c)
        .await)
        .unwrap();
    assert_eq!(requests, 4000, "the debit entries cover every charge");
    assert!(debits < 4000, "summed per tenant, not one entry per request ({debits} entries)");
    assert_eq!(report.entries_checked, 4000 + debits, "one entry per top-up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_repeats_of_one_topup_add_once() {
    let w = Arc::new(world().await);
    w.plan("pro", 0).await;
    w.tenant("acme", "pro").await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let w = w.clone();
            tokio::spawn(async move {
                w.run(TopUp {
                    tenant: "acme".into(),
                    amount: 250,
                    idempotency_key: "double-click".into(),
                    note: None,
                    paid_minor: None,
                })
                .await
                .expect("each call answers")
            })
        })
        .collect();
    let mut fresh = 0;
    for t in tasks {
        let movement = t.await.unwrap();
        assert_eq!(movement.balance, 250, "every caller sees the single top-up");
        fresh += usize::from(!movement.replayed);
    }
    assert_eq!(fresh, 1, "exactly one call moved credits, the rest replayed");
    let entries = w.run(LedgerList { tenant: "acme".into(), ..Default::default() }).await.unwrap();
    assert_eq!(entries.len(), 1, "one ledger entry");
}

#[tokio::test]
async fn a_debit_the_ledger_refuses_fails_its_strict_caller_and_verify_reports_it() {
    let mut w = world().await;
    let log = with_request_log(&mut w);
    w.plan("pro", 2).await;
    let id = w.tenant("acme", "pro").await.tenant.id;
    // Two memories that each believe the 2 credits are theirs: the second charge is one
    // the ledger cannot cover.
    let first = Live::load(w.console.store()).await.unwrap();
    let second = Live::load(w.console.store()).await.unwrap();
    let (settlement, _writer) = Settlement::spawn(w.console.store().clone());
    let debit = |amount, request_id| Debit { tenant_id: id, amount, request_id, at: t0() };
    let ok = settlement.record_durably(debit(2, "r1"), first.reserve(id, 2).unwrap()).await;
    assert!(matches!(ok, Ok(Some(_))), "the covered debit commits: {ok:?}");
    settlement.flush().await.unwrap(); // in the ledger (SQLite folds its strict journal here)
    let refused = settlement.record_durably(debit(2, "r2"), second.reserve(id, 2).unwrap()).await;
    if on_postgres() {
        // Committed to the ledger directly: the caller learns at once.
        assert_eq!(refused, Err(SettleError::Refused), "the strict caller learns its charge was refused");
    } else {
        // Durable in the journal, which checks no balance: the ledger refuses it when the
        // flush folds it, with the tenant's other unwritten usage, and verify tells.
        assert!(matches!(refused, Ok(Some(Committed::Journal(_)))), "journaled: {refused:?}");
    }
    settlement.record(debit(1, "r3")); // batched: nobody waits, so verify must tell
    settlement.stop().await.unwrap();
    let entries = w.run(LedgerList { tenant: "acme".into(), ..Default::default() }).await.unwrap();
    let debits: Vec<i64> = entries.iter().filter(|e| e.amount < 0).map(|e| e.amount).collect();
    assert_eq!(debits, vec![-2], "only the debit the balance covered was written; no overdraft");
    let report = w.run(Verify {}).await.unwrap();
    assert!(!report.ok, "verify fails while the ledger has refused debits");
    assert!(report.mismatches.is_empty(), "balances still equal their ledgers");
    let listed: Vec<(i64, Option<&str>)> =
        report.refused_debits.iter().map(|r| (r.amount, r.request_id.as_deref())).collect();
    let expected = if on_postgres() { vec![(1, None), (2, Some("r2"))] } else { vec![(3, None)] };
    assert_eq!(
        listed, expected,
        "each refused charge is reported, newest first (usage folded as a tenant's sum has no request id)"
    );
    let journal: i64 = tollgate_core::on!(&mut w.console.store().reader().await.unwrap(), |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM usage_journal"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    assert_eq!(journal, 0, "a refused fold leaves nothing in the journal to fold again");

    // The refused request's record names its journal row; a later fold of the tenant's
    // usage (into an entry reaching past that row) must not make it look charged.
    let Ok(Some(row)) = refused else { return }; // PostgreSQL: refused at commit, no record
    let r2 = RequestId { prefix: 0x5f3a_9c1e, counter: 2 };
    log.record_now(RequestRecord {
        id: r2,
        at_ms: t0().timestamp_millis(),
        tenant_id: Some(id),
        route_id: None,
        key_prefix: Short::new("tg_live_AbCd"),
        code: Short::new(""),
        method: Short::new("GET"),
        status: 200,
        cost: 2,
        latency_us: 100,
        committed: Some(row),
    });
    let topup = TopUp { tenant: "acme".into(), amount: 10, idempotency_key: "t".into(), note: None, paid_minor: None };
    w.run(topup).await.unwrap();
    let live = Live::load(w.console.store()).await.unwrap();
    let (settlement, _writer) = Settlement::spawn(w.console.store().clone());
    let later = strict_request(&settlement, &live, &log, id, 1, 3).await;
    settlement.stop().await.unwrap();
    let mut conn = w.console.store().reader().await.unwrap();
    let shown = charges::charged_request(&mut conn, Some(&log), &later).await.unwrap();
    assert!(shown.is_some_and(|c| c.entry_id.is_some()), "the later charge is in its entry");
    let shown = charges::charged_request(&mut conn, Some(&log), &r2.to_string()).await.unwrap();
    assert_eq!(shown, None, "the refused one was not charged, whatever entry follows");
}

#[tokio::test]
async fn the_ledger_is_append_only_and_pages_newest_first() {
    let w = world().await;
    w.plan("pro", 0).await;
    w.tenant("acme", "pro").await;
    for i in 0..5 {
        w.run_at(
            &at(i),
            TopUp {
                tenant: "acme".into(),
                amount: 1 + i,
                idempotency_key: format!("k{i}"),
                note: None,
                paid_minor: None,
            },
        )
        .await
        .unwrap();
    }
    let page = w.run(LedgerList { tenant: "acme".into(), limit: Some(2), before_id: None }).await.unwrap();
    assert_eq!(page.iter().map(|e| e.amount).collect::<Vec<_>>(), [5, 4], "newest first");
    let next = w.run(LedgerList { tenant: "acme".into(), limit: Some(2), before_id: Some(page[1].id) }).await.unwrap();
    assert_eq!(next.iter().map(|e| e.amount).collect::<Vec<_>>(), [3, 2], "the next page continues");
    let bad = w.run(LedgerList { tenant: "acme".into(), limit: Some(0), before_id: None }).await;
    assert!(bad.is_err(), "a zero page size is refused");

    let mut tx = w.console.store().begin().await.unwrap();
    let update =
        tollgate_core::on!(&mut *tx, |c| sqlx::query("UPDATE ledger SET amount = 1000").execute(c).await.map(drop));
    assert!(update.is_err(), "the database refuses to rewrite ledger entries");
    let delete = tollgate_core::on!(&mut *tx, |c| sqlx::query("DELETE FROM ledger").execute(c).await.map(drop));
    assert!(delete.is_err(), "and to delete them");
}

#[tokio::test]
async fn verify_reports_a_tenant_whose_balance_drifted() {
    let w = world().await;
    w.plan("pro", 100).await;
    w.tenant("acme", "pro").await;
    w.tenant("globex", "pro").await;
    assert!(w.run(Verify {}).await.unwrap().ok, "a fresh ledger balances");
    let mut tx = w.console.store().begin().await.unwrap();
    tollgate_core::on!(&mut *tx, |c| sqlx::query("UPDATE tenants SET balance = balance + 7 WHERE slug = 'globex'")
        .execute(c)
        .await
        .map(drop))
    .unwrap();
    tx.commit().await.unwrap();
    let report = w.run(Verify {}).await.unwrap();
    assert!(!report.ok, "drift is detected");
    assert_eq!(report.tenants_checked, 2, "every tenant is checked");
    assert_eq!(report.mismatches.len(), 1, "only the drifted tenant is reported");
    let m = &report.mismatches[0];
    assert_eq!((m.tenant.as_str(), m.balance, m.ledger_sum), ("globex", 107, 100), "with both figures");
}

#[tokio::test]
async fn strict_and_console_writes_commit_durably_and_batched_ones_do_not() {
    let w = sqlite_world().await; // SQLite's `synchronous`; PostgreSQL commits durably
    w.plan("pro", 100).await;
    let id = w.tenant("acme", "pro").await.tenant.id;
    let store = w.console.store();
    assert_eq!(store.writer_synchronous().await.unwrap(), 2, "a console write syncs the WAL (FULL)");
    let live = Live::load(store).await.unwrap();
    let (settlement, _writer) = Settlement::spawn(store.clone());
    settlement.record(Debit { tenant_id: id, amount: 1, request_id: "b", at: t0() });
    settlement.stop().await.unwrap();
    assert_eq!(store.writer_synchronous().await.unwrap(), 1, "a batched commit survives a crash only (NORMAL)");
    let (settlement, _writer) = Settlement::spawn(store.clone());
    let strict = Debit { tenant_id: id, amount: 1, request_id: "s", at: t0() };
    settlement.record_durably(strict, live.reserve(id, 1).unwrap()).await.unwrap();
    assert_eq!(store.writer_synchronous().await.unwrap(), 2, "a strict commit survives a power loss (FULL)");
}

#[tokio::test]
async fn charges_after_the_writer_stopped_are_counted_not_silently_dropped() {
    let w = world().await;
    w.plan("pro", 100).await;
    let id = w.tenant("acme", "pro").await.tenant.id;
    let live = Live::load(w.console.store()).await.unwrap();
    let (settlement, writer) = Settlement::spawn(w.console.store().clone());
    settlement.stop().await.unwrap();
    writer.await.unwrap();
    settlement.record(Debit { tenant_id: id, amount: 1, request_id: "late", at: t0() });
    assert_eq!(settlement.lost(), 1, "a batched charge after the stop is counted (the node then fails its stop)");
    let strict = Debit { tenant_id: id, amount: 1, request_id: "late-strict", at: t0() };
    let result = settlement.record_durably(strict, live.reserve(id, 1).unwrap()).await;
    assert_eq!(result, Err(SettleError::Stopped), "a strict one fails at once");
    assert_eq!(live.tenant(id).unwrap().balance, 100, "and its reservation went back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn balances_reconcile_to_zero_under_traffic_and_a_change_behind_the_back_is_repaired() {
    use tollgate_core::live::reconcile::reconcile;
    let w = world().await;
    w.plan("pro", 100_000).await;
    let id = w.tenant("acme", "pro").await.tenant.id;
    let store = w.console.store().clone();
    let live = Arc::new(Live::load(&store).await.unwrap());
    let console = w.console.clone().with_live(live.clone());
    let (settlement, writer) = Settlement::spawn_with(store.clone(), Some(live.clone()));
    let traffic = tokio::spawn({
        let (live, settlement) = (live.clone(), settlement.clone());
        async move {
            for n in 0..3000 {
                let reservation = live.reserve(id, 2).unwrap();
                let debit = Debit { tenant_id: id, amount: 2, request_id: &format!("b{n}"), at: t0() };
                if n % 10 == 0 {
                    settlement.record_durably(debit, reservation).await.unwrap();
                } else {
                    reservation.hand_over();
                    settlement.record(debit);
                }
                if n % 100 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }
    });
    let mut passes = 0;
    while !traffic.is_finished() {
        let topup = TopUp {
            tenant: "acme".into(),
            amount: 7,
            idempotency_key: format!("t{passes}"),
            note: None,
            paid_minor: None,
        };
        topup.run(&console, &crate::common::at(0)).await.unwrap();
        let in_flight = live.reserve(id, 5).unwrap(); // a request being served meanwhile
        assert_eq!(reconcile(&live, &store).await.unwrap(), Some(0), "no drift while charges flow (pass {passes})");
        drop(in_flight);
        passes += 1;
    }
    traffic.await.unwrap();
    assert!(passes > 0, "reconciliation ran while the traffic flowed");
    settlement.stop().await.unwrap();
    writer.await.unwrap();
    assert_eq!(reconcile(&live, &store).await.unwrap(), Some(0), "none after the last commit either");
    let stored: i64 = tollgate_core::on!(&mut store.reader().await.unwrap(), |c| sqlx::query_scalar(
        "SELECT balance FROM tenants WHERE id = $1"
    )
    .bind(id)
    .fetch_one(c)
    .await)
    .unwrap();
    assert_eq!(live.tenant(id).unwrap().balance, stored, "memory equals the database once everything is written");

    // Behind the console's back: 1,000 credits go in the database only.
    let mut write = store.begin().await.unwrap();
    tollgate_core::on!(&mut *write, |c| sqlx::query(
        "INSERT INTO ledger (tenant_id, kind, amount, balance_after, actor, created_at) VALUES ($1, 'adjustment', -1000, $2, 'sql', $3)",
    )
    .bind(id)
    .bind(stored - 1000)
    .bind(t0())
    .execute(c).await.map(drop))
    .unwrap();
    tollgate_core::on!(&mut *write, |c| sqlx::query("UPDATE tenants SET balance = balance - 1000 WHERE id = $1")
        .bind(id)
        .execute(c)
        .await
        .map(drop))
    .unwrap();
    write.commit().await.unwrap();
    assert_eq!(reconcile(&live, &store).await.unwrap(), Some(1), "the balance drift is found");
    assert_eq!(live.tenant(id).unwrap().balance, stored - 1000, "and memory takes the database's figure");
    assert_eq!(reconcile(&live, &store).await.unwrap(), Some(0), "once");
}
