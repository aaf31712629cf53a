//! Payment-provider events (`payments`): refused deliveries change nothing, an event id is
//! applied once, an unmatched event applies when delivered again after the customer is
//! linked, and the signing secret never reaches the audit log. (The signed deliveries of
//! the official `stripe` library are in ui/e2e/payments.e2e.ts, through the gateway.)

use serde_json::json;
use tollgate_core::store::audit::AuditList;
use tollgate_core::store::payments::{self, PaymentEventList, PaymentOutcome, ReceiveError, SignatureError};
use tollgate_core::store::settings::SettingsSet;
use tollgate_core::store::tenants::{TenantShow, TenantUpdate};

use crate::common::{World, assert_code, assert_invalid, world};

const SECRET: &str = "whsec_core_test";

fn checkout(id: &str, credits: &str, reference: &str) -> Vec<u8> {
    let object = json!({"id": "cs_1", "client_reference_id": reference, "payment_status": "paid",
                        "amount_total": 900, "metadata": {"credits": credits}});
    json!({"id": id, "type": "checkout.session.completed", "data": {"object": object}}).to_string().into_bytes()
}

async fn deliver(w: &World, body: &[u8]) -> Result<payments::Receipt, ReceiveError> {
    let header = payments::sign(body, SECRET, chrono::Utc::now().timestamp());
    tollgate_core::console::payments::receive_stripe(&w.console, Some(&header), body).await
}

async fn balance(w: &World) -> i64 {
    w.run(TenantShow { tenant: "acme".into() }).await.unwrap().tenant.balance
}

#[tokio::test]
async fn refused_deliveries_change_nothing_and_an_event_applies_once() {
    let w = world().await;
    w.plan("pro", 0).await;
    w.tenant("acme", "pro").await;
    let body = checkout("evt_1", "70", "acme");
    assert!(matches!(deliver(&w, &body).await, Err(ReceiveError::Off)), "no secret: the endpoint is off");
    w.run(SettingsSet { stripe_webhook_secret: Some(SECRET.into()), ..Default::default() }).await.unwrap();
    let before = w.dump().await;
    let forged = payments::sign(&body, "whsec_other", chrono::Utc::now().timestamp());
    let refused = tollgate_core::console::payments::receive_stripe(&w.console, Some(&forged), &body).await;
    assert!(matches!(refused, Err(ReceiveError::Signature(SignatureError::NoMatch))), "{refused:?}");
    let garbage = b"not json".to_vec();
    assert!(matches!(deliver(&w, &garbage).await, Err(ReceiveError::Payload(_))));
    assert_eq!(w.dump().await, before, "refused deliveries change nothing");
    assert!(w.run(PaymentEventList::default()).await.unwrap().is_empty(), "and record nothing");

    let first = deliver(&w, &body).await.unwrap();
    assert_eq!((first.replayed, first.event.outcome, balance(&w).await), (false, PaymentOutcome::Applied, 70));
    let again = deliver(&w, &body).await.unwrap();
    assert_eq!((again.replayed, again.event.deliveries, balance(&w).await), (true, 2, 70), "no second top-up");
    let listed = w.run(PaymentEventList { tenant: Some("acme".into()), ..Default::default() }).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].detail, "topped up 70 credits (checkout cs_1)");
    assert_invalid(w.run(PaymentEventList { limit: Some(0), ..Default::default() }).await, "limit");
}

#[tokio::test]
async fn an_unmatched_event_applies_once_the_customer_is_linked() {
    let w = world().await;
    w.plan("pro", 0).await;
    w.tenant("acme", "pro").await;
    w.tenant("other", "pro").await;
    w.run(SettingsSet { stripe_webhook_secret: Some(SECRET.into()), ..Default::default() }).await.unwrap();
    let object = json!({"id": "cs_2", "customer": "cus_Link1", "payment_status": "paid", "metadata": {"credits": 5}});
    let body = json!({"id": "evt_2", "type": "checkout.session.completed", "data": {"object": object}}).to_string();
    let unmatched = deliver(&w, body.as_bytes()).await.unwrap();
    assert_eq!((unmatched.event.outcome, unmatched.event.tenant), (PaymentOutcome::Unmatched, None));

    assert_invalid(
        w.run(TenantUpdate { stripe_customer: Some("cust_x".into()), ..update("acme") }).await,
        "stripe_customer",
    );
    w.run(TenantUpdate { stripe_customer: Some("cus_Link1".into()), ..update("acme") }).await.unwrap();
    let taken = w.run(TenantUpdate { stripe_customer: Some("cus_Link1".into()), ..update("other") }).await;
    assert_code(taken, "STRIPE_CUSTOMER_TAKEN");
    let applied = deliver(&w, body.as_bytes()).await.unwrap();
    assert_eq!((applied.event.outcome, applied.event.tenant.as_deref()), (PaymentOutcome::Applied, Some("acme")));
    assert_eq!((applied.event.deliveries, balance(&w).await), (2, 5));

    // An unpaid checkout and an unknown type do nothing, and say so.
    let unpaid = json!({"id": "evt_3", "type": "checkout.session.completed",
                        "data": {"object": {"customer": "cus_Link1", "payment_status": "unpaid", "metadata": {"credits": 5}}}});
    let ignored = deliver(&w, unpaid.to_string().as_bytes()).await.unwrap();
    assert_eq!((ignored.event.outcome, balance(&w).await), (PaymentOutcome::Ignored, 5));
    assert!(ignored.event.detail.contains("not paid"), "{}", ignored.event.detail);
}

#[tokio::test]
async fn the_signing_secret_is_refused_when_malformed_and_never_written_to_the_audit_log() {
    let w = world().await;
    assert_invalid(
        w.run(SettingsSet { stripe_webhook_secret: Some("sk_live_oops".into()), ..Default::default() }).await,
        "stripe_webhook_secret",
    );
    w.run(SettingsSet { stripe_webhook_secret: Some(SECRET.into()), ..Default::default() }).await.unwrap();
    let audit = serde_json::to_string(&w.run(AuditList::default()).await.unwrap().0).unwrap();
    assert!(audit.contains("stripe_webhook_secret") && !audit.contains(SECRET), "{audit}");
}

fn update(tenant: &str) -> TenantUpdate {
    TenantUpdate { tenant: tenant.into(), ..Default::default() }
}
