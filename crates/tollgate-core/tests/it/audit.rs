use chrono::TimeDelta;
use tollgate_core::Ctx;
use tollgate_core::live::events::Event;
use tollgate_core::store::audit::AuditList;
use tollgate_core::store::credits::TopUp;
use tollgate_core::store::tenants::TenantSuspend;

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

#[tokio::test]
async fn the_log_is_in_time_order_and_filters_by_tenant_actor_command_and_time() {
    let w = world().await;
    w.plan("pro", 0).await;
    w.tenant("acme", "pro").await;
    w.tenant("globex", "pro").await;
    let topup = |tenant: &str, key: &str| TopUp {
        tenant: tenant.into(),
        amount: 5,
        idempotency_key: key.into(),
        note: None,
        paid_minor: None,
    };
    let by = |actor: &str, days: i64| Ctx { actor: actor.into(), now: t0() + TimeDelta::days(days) };
    // Recorded in this order, dated out of it (as an import or the demo does).
    w.run_at(&by("cli:alice", 3), topup("acme", "a")).await.unwrap();
    w.run_at(&by("dashboard:firefox-1a2b3c4d", 1), topup("globex", "b")).await.unwrap();
    w.run_at(&by("desktop:bob", 2), TenantSuspend { tenant: "acme".into(), reason: None }).await.unwrap();

    let list = |f: AuditList| async {
        w.run(f).await.unwrap().iter().map(|e| (e.action.clone(), e.actor.clone())).collect::<Vec<_>>()
    };
    let all = w.run(AuditList::default()).await.unwrap();
    let times: Vec<_> = all.iter().map(|e| e.at).collect();
    assert!(times.windows(2).all(|p| p[0] >= p[1]), "latest first by time, not by id: {times:?}");
    assert_eq!(all[0].actor, "cli:alice", "the action dated latest leads though it was recorded first");
    let page = w.run(AuditList { before_id: Some(all[1].id), ..Default::default() }).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.id).collect::<Vec<_>>(),
        all[2..].iter().map(|e| e.id).collect::<Vec<_>>(),
        "a page continues in the same order"
    );

    let acme = list(AuditList { tenant: Some("acme".into()), ..Default::default() }).await;
    assert_eq!(
        acme.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(),
        ["credits.topup", "tenant.suspend", "tenant.create"],
        "a tenant's actions"
    );
    assert_eq!(
        list(AuditList { actor: Some("cli".into()), ..Default::default() }).await,
        [("credits.topup".to_string(), "cli:alice".to_string())],
        "an actor's kind"
    );
    assert_eq!(
        list(AuditList { actor: Some("desktop:bob".into()), ..Default::default() }).await.len(),
        1,
        "a whole actor"
    );
    assert_eq!(
        list(AuditList { actor: Some("cli:al".into()), ..Default::default() }).await.len(),
        0,
        "not a part of a name"
    );
    assert_eq!(
        list(AuditList { action: Some("credits".into()), ..Default::default() }).await.len(),
        2,
        "a command group"
    );
    assert_eq!(
        list(AuditList { action: Some("tenant.suspend".into()), ..Default::default() }).await.len(),
        1,
        "one command"
    );
    let since = list(AuditList { since: Some(t0() + TimeDelta::days(2)), ..Default::default() }).await;
    assert_eq!(since.len(), 2, "since an instant: {since:?}");
    let both =
        list(AuditList { tenant: Some("acme".into()), action: Some("credits".into()), ..Default::default() }).await;
    assert_eq!(both.len(), 1, "filters combine");
    assert_invalid(w.run(AuditList { tenant: Some("Not A Slug".into()), ..Default::default() }).await, "tenant");
    assert_invalid(w.run(AuditList { actor: Some("cli\u{1b}[2J".into()), ..Default::default() }).await, "actor");
}
