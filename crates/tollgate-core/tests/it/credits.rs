use tollgate_core::domain::validate::MAX_CREDITS;
use tollgate_core::live::Live;
use tollgate_core::store::credits::{Adjust, Refund, TopUp};
use tollgate_core::store::ledger::EntryKind;

use tollgate_core::live::settlement::Settlement;
use tollgate_core::store::request_log::RequestLog;

use crate::common::{World, assert_code, assert_invalid, strict_request, with_request_log, world};

fn topup(amount: i64, key: &str) -> TopUp {
    TopUp { tenant: "acme".into(), amount, idempotency_key: key.into(), note: None, paid_minor: None }
}

#[tokio::test]
async fn topup_adds_once_per_idempotency_key() {
    let w = world().await;
    w.plan("pro", 0).await;
    w.tenant("acme", "pro").await;
    let first = w.run(TopUp { note: Some("invoice 42".into()), ..topup(5000, "inv-42") }).await.unwrap();
    assert_eq!((first.balance, first.replayed), (5000, false), "credits added");
    assert_eq!(
        (first.entry.kind, first.entry.reason.as_deref()),
        (EntryKind::Topup, Some("invoice 42")),
        "the note is kept"
    );
    let again = w.run(topup(5000, "inv-42")).await.unwrap();
    assert!(again.replayed, "the same key replays");
    assert_eq!((again.balance, again.entry.id), (5000, first.entry.id), "and adds nothing");
    assert_code(w.run(topup(7000, "inv-42")).await, "IDEMPOTENCY_KEY_REUSED");
}

#[tokio::test]
async fn topup_rejects_bad_amounts_and_changes_nothing() {
    let w = world().await;
    w.plan("pro", 0).await;
    w.tenant("acme", "pro").await;
    w.run(topup(10, "seed")).await.unwrap();
    let before = w.dump().await;
    assert_invalid(w.run(topup(0, "a")).await, "amount");
    assert_invalid(w.run(topup(-5, "b")).await, "amount");
    assert_invalid(w.run(topup(i64::MAX, "c")).await, "amount");
    assert_invalid(w.run(topup(MAX_CREDITS + 1, "d")).await, "amount");
    assert_invalid(w.run(topup(5, "")).await, "idempotency_key");
    assert_invalid(w.run(topup(5, "has space")).await, "idempotency_key");
    assert_code(w.run(TopUp { tenant: "ghost".into(), ..topup(5, "e") }).await, "NOT_FOUND");
    assert_eq!(w.dump().await, before, "refused top-ups change nothing");
}

#[tokio::test]
async fn the_balance_cannot_overflow() {
    let w = world().await;
    w.plan("pro", 0).await;
    w.tenant("acme", "pro").await;
    let mut n = 0;
    let err = loop {
        match w.run(topup(MAX_CREDITS, &format!("k{n}"))).await {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
        assert!(n < 10_000, "overflow must be refused before i64 wraps");
    };
    assert_eq!(err.code(), "INVALID_INPUT", "overflow is an input error: {err}");
    assert!(err.to_string().contains("overflow"), "and says so: {err}");
}

#[tokio::test]
async fn adjust_moves_both_ways_but_never_below_zero() {
    let w = world().await;
    w.plan("pro", 100).await;
    w.tenant("acme", "pro").await;
    let adj = |amount: i64, key: &str, reason: &str| Adjust {
        tenant: "acme".into(),
        amount,
        idempotency_key: key.into(),
        reason: reason.into(),
    };
    assert_eq!(w.run(adj(-40, "a1", "goodwill reversal")).await.unwrap().balance, 60, "down");
    assert_eq!(w.run(adj(15, "a2", "support credit")).await.unwrap().balance, 75, "up");
    let before = w.dump().await;
    assert_code(w.run(adj(-76, "a3", "too much")).await, "INSUFFICIENT_CREDITS");
    assert_invalid(w.run(adj(0, "a4", "nothing")).await, "amount");
    assert_invalid(w.run(adj(5, "a5", "  ")).await, "reason");
    assert_eq!(w.dump().await, before, "refused adjustments change nothing");
}

/// Charges `amount` to tenant `tenant_id` for request number `counter`, as the gateway
/// does in `strict` durability (its record in the request log names the entry); returns
/// the request id.
async fn charge(w: &World, log: &RequestLog, tenant_id: i64, amount: i64, counter: u64) -> String {
    let live = Live::load(w.console.store()).await.unwrap();
    let (settlement, writer) = Settlement::spawn(w.console.store().clone());
    let id = strict_request(&settlement, &live, log, tenant_id, amount, counter).await;
    settlement.stop().await.unwrap();
    writer.await.unwrap();
    id
}

fn refund(request_id: &str, amount: i64, key: &str) -> Refund {
    Refund {
        tenant: "acme".into(),
        amount,
        idempotency_key: key.into(),
        request_id: request_id.into(),
        reason: Some("upstream bug".into()),
    }
}

#[tokio::test]
async fn a_refund_names_its_charge_and_never_exceeds_it() {
    let mut w = world().await;
    let log = with_request_log(&mut w);
    w.plan("pro", 100).await;
    let acme = w.tenant("acme", "pro").await.tenant.id;
    let globex = w.tenant("globex", "pro").await.tenant.id;
    let req1 = &charge(&w, &log, acme, 5, 1).await;
    let req2 = &charge(&w, &log, acme, 3, 2).await;
    let req_g = &charge(&w, &log, globex, 50, 3).await;

    let r = w.run(refund(req1, 3, "r1")).await.unwrap();
    assert_eq!(
        (r.entry.kind, r.entry.request_id.as_deref(), r.balance),
        (EntryKind::Refund, Some(req1.as_str()), 95),
        "3 of the 5 charged for req-1 come back"
    );
    let again = w.run(refund(req1, 3, "r1")).await.unwrap();
    assert_eq!((again.replayed, again.balance), (true, 95), "a retry replays, even with only 2 left");

    let before = w.dump().await;
    let over = w.run(refund(req1, 3, "r2")).await;
    assert!(format!("{over:?}").contains("2 are left"), "says what is left: {over:?}");
    assert_invalid(over, "amount");
    assert_code(w.run(refund("req-9", 1, "r3")).await, "NOT_FOUND");
    assert_code(w.run(refund(req_g, 1, "r4")).await, "NOT_FOUND");
    assert_code(w.run(refund("req_5f3a9c1e_000000000009", 1, "r4")).await, "NOT_FOUND");
    assert_invalid(w.run(refund("  ", 1, "r5")).await, "request_id");
    assert_invalid(w.run(refund(req1, -3, "r6")).await, "amount");
    assert_eq!(w.dump().await, before, "refused refunds change nothing");

    assert_eq!(w.run(refund(req1, 2, "r7")).await.unwrap().balance, 97, "the rest of req-1");
    assert_invalid(w.run(refund(req1, 1, "r8")).await, "amount");
    assert_eq!(w.run(refund(req2, 3, "r9")).await.unwrap().balance, 100, "req-2 on its own account");
}

#[tokio::test]
async fn a_never_charged_tenant_has_nothing_to_refund() {
    let w = world().await;
    w.plan("pro", 0).await;
    w.tenant("acme", "pro").await;
    let before = w.dump().await;
    assert_code(w.run(refund("req-9", 3, "r1")).await, "NOT_FOUND");
    assert_eq!(w.dump().await, before, "no credits appear from nowhere");
}
