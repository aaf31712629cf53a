//! What happens to a request's credits however it ends: the client leaves, the charge
//! cannot be committed, the writer is slow or gone.

use std::time::{Duration, Instant};

use sqlx::Connection;
use tollgate_core::live::events::Event;
use tollgate_core::store::settings::{Durability, SettingsSet};

use crate::harness::{World, world, world_in};
use crate::small_disk::SmallDisk;

async fn wait_for_balance(w: &World, expected: i64) {
    let until = Instant::now() + Duration::from_secs(5);
    while w.balance().await != expected {
        assert!(Instant::now() < until, "balance stayed {} instead of {expected}", w.balance().await);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Requests the ledger charged, once the usage summed in memory is written.
async fn debits_in_ledger(w: &World) -> i64 {
    match w.settlement.flush().await {
        Ok(()) | Err(tollgate_core::live::settlement::SettleError::Stopped) => {}
        Err(e) => panic!("usage not written: {e}"),
    }
    committed_debits(w).await
}

/// Requests the ledger charged so far.
async fn committed_debits(w: &World) -> i64 {
    tollgate_core::on!(&mut w.console.store().reader().await.unwrap(), |c| sqlx::query_scalar(
        "SELECT COALESCE(SUM(requests), 0) FROM ledger WHERE kind = 'debit'"
    )
    .fetch_one(c)
    .await)
    .unwrap()
}

#[tokio::test]
async fn a_client_that_gives_up_gets_its_credits_back_and_the_monitor_hears_of_it() {
    let w = world(10, 10).await;
    let mut events = w.hub.subscribe();
    let client = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
    let gave_up = client.get(format!("{}/v1/slow", w.url)).bearer_auth(&w.secret).send().await;
    assert!(gave_up.is_err(), "the client timed out before the 3 s upstream answered");
    wait_for_balance(&w, 10).await;
    let event = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if let Event::Gateway(g) = &*events.recv().await.unwrap() {
                return g.clone();
            }
        }
    })
    .await
    .expect("the abandoned request is reported");
    assert_eq!((event.status, event.cost, event.code.as_deref()), (499, 0, Some("CLIENT_CLOSED_REQUEST")));
    assert_eq!(w.get("/v1/x").await.status(), 200, "the next request is served from the returned credits");
    assert_eq!(debits_in_ledger(&w).await, 1, "only the served request was charged");
}

#[tokio::test]
async fn twenty_abandoned_requests_leave_every_credit() {
    let w = world(100, 1).await;
    let client = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let tries = (0..20).map(|_| client.get(format!("{}/v1/slow", w.url)).bearer_auth(&w.secret).send());
    for r in futures_util::future::join_all(tries).await {
        assert!(r.is_err(), "every client gave up");
    }
    wait_for_balance(&w, 100).await;
    assert_eq!(debits_in_ledger(&w).await, 0, "nothing charged");
}

/// Holds SQLite's write lock from another connection, so the writer cannot commit.
async fn lock_database(w: &World) -> sqlx::SqliteConnection {
    let mut outside = sqlx::SqliteConnection::connect(&format!("sqlite://{}", w.db.display())).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut outside).await.unwrap();
    outside
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_answers_only_after_its_commit_and_batched_does_not_wait() {
    let w = world(100, 1).await;
    let mut outside = lock_database(&w).await;
    let started = Instant::now();
    assert_eq!(w.get("/v1/x").await.status(), 200, "batched is served");
    assert!(started.elapsed() < Duration::from_secs(2), "without waiting for the locked database");
    sqlx::query("ROLLBACK").execute(&mut outside).await.unwrap();

    w.run(SettingsSet { durability: Some(Durability::Strict), ..Default::default() }).await;
    let mut outside = lock_database(&w).await;
    let strict = tokio::spawn({
        let (client, url, secret) = (w.client.clone(), format!("{}/v1/x", w.url), w.secret.clone());
        async move {
            let r = client.get(url).bearer_auth(secret).send().await.unwrap();
            (r.status(), r.headers()["x-request-id"].to_str().unwrap().to_string())
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!strict.is_finished(), "strict waits while its charge cannot be committed");
    sqlx::query("ROLLBACK").execute(&mut outside).await.unwrap();
    let (status, id) = tokio::time::timeout(Duration::from_secs(15), strict).await.expect("answered").unwrap();
    assert_eq!(status, 200, "and is served once it is");
    // Committed when its answer arrives (in the strict journal, or already in its entry).
    let shown = w.run(tollgate_core::store::charges::ChargeShow { request_id: id }).await;
    assert_eq!(shown.amount, 1, "the strict charge is on record when its answer arrives");
    let until = Instant::now() + Duration::from_secs(5);
    while debits_in_ledger(&w).await != 2 {
        assert!(Instant::now() < until, "the batched charge was never written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn strict_after_the_writer_stopped_answers_503_and_charges_nothing() {
    let w = world(100, 7).await;
    w.run(SettingsSet { durability: Some(Durability::Strict), ..Default::default() }).await;
    w.settlement.stop().await.unwrap();
    let r = w.get("/v1/x").await;
    assert_eq!(r.status(), 503, "refused, not served uncharged");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "STORAGE_UNAVAILABLE");
    assert_eq!(w.balance().await, 100, "the reservation went back");
    assert_eq!(debits_in_ledger(&w).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_on_a_full_disk_is_refused_before_the_upstream_and_recovers() {
    let Some(disk) = SmallDisk::mount(3) else { return };
    let db = disk.path().join("tollgate.db");
    let w = world_in(None, db, 1000, 1, tollgate_gateway::listener::Limits::gateway()).await;
    w.run(SettingsSet { durability: Some(Durability::Strict), ..Default::default() }).await;
    assert_eq!(w.get("/v1/x").await.status(), 200, "served while the disk has room");
    disk.fill();
    // The first strict charge meets the full disk: 503, not served uncharged.
    let mut refused = 0;
    let until = Instant::now() + Duration::from_secs(10);
    while !w.console.store().health().is_failing() {
        assert!(Instant::now() < until, "the full disk was never noticed");
        let status = w.get("/v1/x").await.status();
        assert!(status == 200 || status == 503, "served and charged, or refused: {status}");
        refused += usize::from(status == 503);
    }
    let hits = w.hits.count();
    let r = w.get("/v1/x").await;
    assert_eq!(r.status(), 503, "while storage fails, strict refuses");
    assert!(r.headers().contains_key("retry-after"), "and says when to retry");
    assert_eq!(w.hits.count(), hits, "without troubling the upstream");
    let _ = refused;
    disk.free();
    let until = Instant::now() + Duration::from_secs(10);
    while w.console.store().health().is_failing() {
        assert!(Instant::now() < until, "storage never read healthy again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(w.get("/v1/x").await.status(), 200, "served again once the disk has room");
    let served_and_charged = debits_in_ledger(&w).await;
    let stored: i64 = tollgate_core::on!(&mut w.console.store().reader().await.unwrap(), |c| sqlx::query_scalar(
        "SELECT balance FROM tenants WHERE id = 1"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    assert_eq!(stored, 1000 - served_and_charged, "every 200 was charged, no 503 was");
    assert_eq!(w.balance().await, stored, "memory and database agree");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_still_running_when_the_shutdown_grace_ends_gives_its_credits_back() {
    use tollgate_gateway::listener::Limits;
    let w = world(10, 10).await;
    let limits = Limits { shutdown_grace: Duration::from_millis(300), ..Limits::gateway() };
    let (addr, stop, server) = crate::harness::stoppable_gateway(&w, limits).await;
    let url = format!("http://{addr}/v1/slow");
    let request = tokio::spawn({
        let (client, secret) = (w.client.clone(), w.secret.clone());
        async move { client.get(url).bearer_auth(secret).send().await }
    });
    wait_for_balance(&w, 0).await; // admitted: its 10 credits are reserved
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(2), server).await.expect("serve returns after the grace").unwrap();
    assert_eq!(w.balance().await, 10, "the unfinished request's credits came back when the grace ended");
    assert!(request.await.unwrap().is_err(), "its client got no answer");
    tokio::time::sleep(Duration::from_secs(3)).await; // past the upstream's answer
    assert_eq!(w.balance().await, 10, "nothing was charged later either");
    assert_eq!(debits_in_ledger(&w).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strict_client_that_leaves_during_its_commit_is_charged_and_its_record_says_so() {
    use tollgate_core::store::charges::ChargeShow;
    use tollgate_core::store::credits::Refund;
    use tollgate_core::store::ledger::Committed;
    use tollgate_core::store::request_log::{Lookup, RequestId};

    let w = crate::harness::world_with_ring(100, 1, 1_000_000).await;
    w.run(SettingsSet { durability: Some(Durability::Strict), ..Default::default() }).await;
    let mut events = w.hub.subscribe();
    let mut outside = lock_database(&w).await;
    let client = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
    let gave_up = client.get(format!("{}/v1/x", w.url)).bearer_auth(&w.secret).send().await;
    assert!(gave_up.is_err(), "the client left while its charge waited for the locked database");
    let left = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Event::Gateway(g) = &*events.recv().await.unwrap() {
                return g.clone();
            }
        }
    })
    .await
    .expect("the request is reported");
    assert_eq!(left.status, 499, "the monitor hears that the client left");
    sqlx::query("ROLLBACK").execute(&mut outside).await.unwrap();
    // The upstream answered, so the charge goes in once the database lets it.
    wait_for_balance(&w, 99).await;
    let id = RequestId::parse(&left.request_id).unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    let record = loop {
        match w.requests.find(id).unwrap() {
            Lookup::Found(r) if r.committed.is_some() => break r,
            other => assert!(Instant::now() < until, "no record of the charge: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!((record.status, record.cost), (200, 1), "the record says served and charged, not 499 and free");
    assert_eq!(committed_debits(&w).await, 1, "the ledger holds the charge");
    let shown = w.run(ChargeShow { request_id: left.request_id.clone() }).await;
    assert!(matches!(record.committed, Some(Committed::Journal(_))), "it names its strict journal row");
    assert_eq!(shown.amount, 1, "charge show finds it");
    assert!(shown.entry_id.is_some(), "in the entry the journal was folded into (the balance moved)");
    w.run(Refund {
        tenant: "acme".into(),
        amount: 1,
        idempotency_key: "left-early".into(),
        request_id: left.request_id.clone(),
        ..Default::default()
    })
    .await;
    assert_eq!(w.balance().await, 100, "and it can be refunded by its id");
}
