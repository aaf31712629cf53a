use tollgate_core::audit::AuditList;
use tollgate_core::credits::TopUp;
use tollgate_core::events::Event;
use tollgate_core::tenants::TenantSuspend;

use crate::common::{assert_invalid, t0, world};

#[tokio::test]
async fn every_action_is_recorded_with_who_when_why_and_the_change() {
    let w = world().await;
    w.plan("pro", 0).await;
    w.tenant("acme", "pro").await;
    w.run(TenantSuspend { tenant: "acme".into(), reason: Some("card declined".into()) }).await.unwrap();
    let log = w.run(AuditList::default()).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["tenant.suspend", "tenant.create", "plan.create"], "newest first, one entry per action");
    let e = &log[0];
    assert_eq!((e.actor.as_str(), e.at, e.target.as_str()), ("test", t0(), "tenant:acme"), "who, when, what");
    assert_eq!(e.reason.as_deref(), Some("card declined"), "why");
    assert_eq!(e.before.as_ref().unwrap()["standing"], "active", "the state before");
    assert_eq!(e.after.as_ref().unwrap()["standing"], "suspended", "the state after");

    let only = w.run(AuditList { target: Some("plan:pro".into()), ..Default::default() }).await.unwrap();
    assert_eq!(only.len(), 1, "filtering by target");
    let older = w.run(AuditList { before_id: Some(log[0].id), ..Default::default() }).await.unwrap();
    assert_eq!(older.len(), 2, "paging by id");
    assert_invalid(w.run(AuditList { limit: Some(5000), ..Default::default() }).await, "limit");
}

#[tokio::test]
async fn committed_actions_are_announced_on_the_hub_and_replays_are_not() {
    let w = world().await;
    w.plan("pro", 0).await;
    w.tenant("acme", "pro").await;
    let mut events = w.console.hub().subscribe();
    let topup =
        || TopUp { tenant: "acme".into(), amount: 5, idempotency_key: "once".into(), note: None, paid_minor: None };
    w.run(topup()).await.unwrap();
    w.run(topup()).await.unwrap();
    let event = events.try_recv().expect("the top-up was announced");
    let Event::Console(entry) = &*event else { panic!("a console action is announced as a console event") };
    assert_eq!(entry.action, "credits.topup", "the event is the audit entry");
    assert!(events.try_recv().is_err(), "a replayed top-up announces nothing");
    let failed = w.run(TopUp { amount: 0, ..topup() }).await;
    assert!(failed.is_err() && events.try_recv().is_err(), "a refused command announces nothing");
}
