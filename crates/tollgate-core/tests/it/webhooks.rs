//! Webhooks out (`webhooks`): endpoints are checked, events go only to endpoints that asked
//! for them, attempts back off and end as failed, a resend starts over, and console changes
//! become events exactly once. (Delivery to a real receiver verifying with the
//! `standardwebhooks` library is in ui/e2e/webhooks.e2e.ts.)

use chrono::TimeDelta;
use serde_json::json;
use tollgate_core::store::credits::TopUp;
use tollgate_core::store::webhooks::{
    self, Backoff, DeliveryStatus, WebhookCreate, WebhookDelete, WebhookDeliveries, WebhookList, WebhookResend,
};

use crate::common::{assert_invalid, at, world};

fn create(url: &str, events: &[&str]) -> WebhookCreate {
    WebhookCreate { url: url.into(), events: events.iter().map(|e| e.to_string()).collect() }
}

#[tokio::test]
async fn endpoints_are_checked_and_events_go_only_where_asked() {
    let w = world().await;
    let before = w.dump().await;
    assert_invalid(w.run(create("ftp://x", &["key.issued"])).await, "url");
    assert_invalid(w.run(create("https://h.example/x", &["key.lost"])).await, "events");
    assert_invalid(w.run(create("https://h.example/x", &[])).await, "events");
    assert_eq!(w.dump().await, before, "refused endpoints change nothing");
    assert!(w.run(WebhookList {}).await.unwrap().is_empty());

    let a = w.run(create("https://a.example/hook", &["key.issued", "key.issued"])).await.unwrap();
    assert!(a.secret.starts_with("whsec_"));
    assert_eq!(a.endpoint.events, ["key.issued"], "deduplicated");
    w.run(create("https://b.example/hook", &["balance.low"])).await.unwrap();
    let mut conn = w.console.store().reader().await.unwrap();
    assert_eq!(webhooks::wanted(&mut conn).await.unwrap(), ["balance.low", "key.issued"]);
    drop(conn);
    let mut tx = w.console.store().begin().await.unwrap();
    let written = webhooks::enqueue(&mut tx, "key.issued", json!({"tenant": "acme"}), at(0).now).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(written, 1, "only the endpoint that asked for key.issued");
    let audit =
        serde_json::to_string(&w.run(tollgate_core::store::audit::AuditList::default()).await.unwrap().0).unwrap();
    assert!(!audit.contains(&a.secret), "the secret is not in the audit log");
}

#[tokio::test]
async fn attempts_back_off_end_as_failed_and_a_resend_starts_over() {
    let w = world().await;
    let e = w.run(create("https://a.example/hook", &["key.issued"])).await.unwrap().endpoint;
    let t0 = at(0).now;
    let mut tx = w.console.store().begin().await.unwrap();
    webhooks::enqueue(&mut tx, "key.issued", json!({}), t0).await.unwrap();
    tx.commit().await.unwrap();
    let backoff = Backoff(vec![TimeDelta::seconds(5), TimeDelta::seconds(30)]);
    let mut now = t0;
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let mut tx = w.console.store().begin().await.unwrap();
        let due = webhooks::due(&mut tx, now, 10).await.unwrap();
        assert_eq!(due.len(), 1, "due at {now}");
        let status =
            webhooks::record(&mut tx, &due[0].delivery, now, Some(503), Some("busy"), 7, &backoff).await.unwrap();
        tx.commit().await.unwrap();
        outcomes.push(status);
        now += TimeDelta::seconds(if outcomes.len() == 1 { 5 } else { 30 });
    }
    assert_eq!(outcomes, [DeliveryStatus::Pending, DeliveryStatus::Pending, DeliveryStatus::Failed]);
    let listed = w.run(WebhookDeliveries::default()).await.unwrap();
    assert_eq!(listed[0].tries.iter().map(|t| t.status).collect::<Vec<_>>(), [Some(503); 3]);
    assert_eq!(listed[0].next_attempt_at, None, "failed: nothing more");

    let resent = w.run(WebhookResend { delivery: listed[0].id }).await.unwrap();
    assert_eq!((resent.status, resent.attempts), (DeliveryStatus::Pending, 0), "a fresh round of retries");
    let mut tx = w.console.store().begin().await.unwrap();
    let due = webhooks::due(&mut tx, at(0).now, 10).await.unwrap();
    let ok = webhooks::record(&mut tx, &due[0].delivery, at(0).now, Some(204), None, 3, &backoff).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(ok, DeliveryStatus::Delivered);
    assert_eq!(w.run(WebhookDeliveries::default()).await.unwrap()[0].tries.len(), 4, "every attempt kept");

    w.run(WebhookDelete { id: e.id }).await.unwrap();
    assert!(w.run(WebhookDeliveries::default()).await.unwrap().is_empty(), "its deliveries go with it");
}

#[tokio::test]
async fn console_changes_after_the_endpoint_become_events_once() {
    let w = world().await;
    w.plan("pro", 0).await;
    w.tenant("acme", "pro").await;
    let topup = |key: &str| TopUp {
        tenant: "acme".into(),
        amount: 4,
        idempotency_key: key.into(),
        note: None,
        paid_minor: None,
    };
    w.run(topup("before")).await.unwrap();
    w.run(create("https://a.example/hook", &["credits.topped_up"])).await.unwrap();
    w.run(topup("after")).await.unwrap();
    for _ in 0..2 {
        let mut tx = w.console.store().begin().await.unwrap();
        webhooks::collect_changes(&mut tx, at(0).now).await.unwrap();
        tx.commit().await.unwrap();
    }
    let deliveries = w.run(WebhookDeliveries::default()).await.unwrap();
    assert_eq!(deliveries.len(), 1, "the top-up after the endpoint, once; not the one before");
    assert_eq!(deliveries[0].payload["data"]["balance"], 8);
}
