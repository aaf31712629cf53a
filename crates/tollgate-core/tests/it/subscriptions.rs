use chrono::TimeDelta;
use tollgate_core::Ctx;
use tollgate_core::store::audit::AuditList;
use tollgate_core::store::ledger::{EntryKind, LedgerList};
use tollgate_core::store::plans::PlanArchive;
use tollgate_core::store::subscriptions::{ChangePlan, Renew, SetStatus, SubscriptionStatus};
use tollgate_core::store::tenants::TenantShow;

use crate::common::{assert_code, assert_invalid, at, t0, world};

#[tokio::test]
async fn change_plan_takes_effect_at_once_and_keeps_the_period() {
    let w = world().await;
    w.plan("basic", 100).await;
    w.plan("pro", 1000).await;
    let d = w.tenant("acme", "basic").await;
    let s =
        w.run(ChangePlan { tenant: "acme".into(), plan: "pro".into(), reason: Some("upgrade".into()) }).await.unwrap();
    assert_eq!(s.plan, "pro", "the plan changed");
    assert_eq!(
        (s.period_start, s.period_end),
        (d.subscription.period_start, d.subscription.period_end),
        "the period stays"
    );
    let shown = w.run(TenantShow { tenant: "acme".into() }).await.unwrap();
    assert_eq!(shown.tenant.balance, 100, "credits are not granted by a plan change");

    let before = w.dump().await;
    assert_code(w.run(ChangePlan { tenant: "acme".into(), plan: "pro".into(), reason: None }).await, "SAME_PLAN");
    assert_code(w.run(ChangePlan { tenant: "acme".into(), plan: "gold".into(), reason: None }).await, "NOT_FOUND");
    assert_code(w.run(ChangePlan { tenant: "ghost".into(), plan: "basic".into(), reason: None }).await, "NOT_FOUND");
    w.run(PlanArchive { plan: "basic".into() }).await.unwrap();
    let archived = w.dump().await;
    assert_code(w.run(ChangePlan { tenant: "acme".into(), plan: "basic".into(), reason: None }).await, "PLAN_ARCHIVED");
    assert_invalid(
        w.run(ChangePlan { tenant: "acme".into(), plan: "pro".into(), reason: Some("x".repeat(600)) }).await,
        "reason",
    );
    assert_eq!(w.dump().await, archived, "refused changes change nothing");
    assert_ne!(before, archived, "(the archive in between did change something)");
}

#[tokio::test]
async fn past_due_starts_the_grace_period_now() {
    let w = world().await;
    w.plan("pro", 0).await; // grace_days = 3
    w.tenant("acme", "pro").await;
    let s = w
        .run_at(&at(10), SetStatus { tenant: "acme".into(), status: SubscriptionStatus::PastDue, reason: None })
        .await
        .unwrap();
    assert_eq!(s.status, SubscriptionStatus::PastDue, "status recorded");
    assert_eq!(s.grace_until, Some(t0() + TimeDelta::days(13)), "grace ends grace_days after the failure");
    let s =
        w.run(SetStatus { tenant: "acme".into(), status: SubscriptionStatus::Canceled, reason: None }).await.unwrap();
    assert_eq!((s.status, s.grace_until), (SubscriptionStatus::Canceled, None), "other statuses clear the grace");
    assert_code(
        w.run(SetStatus { tenant: "ghost".into(), status: SubscriptionStatus::Active, reason: None }).await,
        "NOT_FOUND",
    );
}

fn grants(entries: &[tollgate_core::store::ledger::LedgerEntry]) -> Vec<i64> {
    entries.iter().filter(|e| e.kind == EntryKind::Grant).map(|e| e.amount).collect()
}

#[tokio::test]
async fn renew_opens_the_next_period_and_grants_credits_once() {
    let w = world().await;
    w.plan("pro", 500).await;
    let d = w.tenant("acme", "pro").await;
    w.run(SetStatus { tenant: "acme".into(), status: SubscriptionStatus::PastDue, reason: None }).await.unwrap();

    let s = w.run(Renew { tenant: "acme".into(), reason: None }).await.unwrap();
    assert_eq!(s.period_start, d.subscription.period_end, "a past-due renewal continues from the current end");
    assert_eq!(s.status, SubscriptionStatus::Active, "renewal makes it active");
    assert_eq!(s.grace_until, None, "and clears the grace");

    // The retried click: the period just opened still runs, so nothing happens.
    let audit_before = w.run(AuditList { limit: Some(1000), ..Default::default() }).await.unwrap().len();
    let again = w.run(Renew { tenant: "acme".into(), reason: None }).await.unwrap();
    assert_eq!(again, s, "a repeated renewal answers the same subscription");
    let ledger = w.run(LedgerList { tenant: "acme".into(), ..Default::default() }).await.unwrap();
    assert_eq!(grants(&ledger), vec![500, 500], "and grants nothing more");
    let audit_after = w.run(AuditList { limit: Some(1000), ..Default::default() }).await.unwrap().len();
    assert_eq!(audit_after, audit_before, "nor records anything");

    // Once that period has ended, the next renewal opens the next one.
    let ended = Ctx { actor: "test".into(), now: s.period_end };
    let next = w.run_at(&ended, Renew { tenant: "acme".into(), reason: None }).await.unwrap();
    assert_eq!(next.period_start, s.period_end, "renewed when due, from the end");
    let twice = w.run_at(&ended, Renew { tenant: "acme".into(), reason: None }).await.unwrap();
    assert_eq!(twice, next, "and only once for that period too");

    // Lapsed long ago: the new period starts now, not in the past.
    let late = at(200);
    let s = w.run_at(&late, Renew { tenant: "acme".into(), reason: None }).await.unwrap();
    assert_eq!(s.period_start, late.now, "a late renewal starts now");
    let s2 = w.run_at(&late, Renew { tenant: "acme".into(), reason: None }).await.unwrap();
    assert_eq!(s2, s, "a late renewal retried is still one");

    let entries = w.run(LedgerList { tenant: "acme".into(), ..Default::default() }).await.unwrap();
    assert_eq!(grants(&entries), vec![500, 500, 500, 500], "creation and each due renewal grant once");
    assert_eq!(entries[0].balance_after, 2000, "the balance follows the grants");
    assert_code(w.run(Renew { tenant: "ghost".into(), reason: None }).await, "NOT_FOUND");
}

#[tokio::test]
async fn what_a_command_stores_is_to_the_second_and_grant_keys_stay_unique() {
    let w = world().await;
    w.plan("pro", 500).await;
    // The clock a real command runs on (the CLI, the admin API, the desktop).
    let live = Ctx::now("test");
    assert_eq!(live.now.timestamp_subsec_nanos(), 0, "commands run on whole seconds");
    let d = w
        .run_at(
            &live,
            tollgate_core::store::tenants::TenantCreate {
                name: "acme".into(),
                plan: "pro".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(d.subscription.period_end.timestamp_subsec_nanos(), 0, "the period end shown has no fraction");
    let s = w
        .run_at(&live, SetStatus { tenant: "acme".into(), status: SubscriptionStatus::PastDue, reason: None })
        .await
        .unwrap();
    assert_eq!(s.grace_until.map(|g| g.timestamp_subsec_nanos()), Some(0), "nor has the grace end");
    w.run_at(&live, Renew { tenant: "acme".into(), reason: None }).await.unwrap();
    let ledger = w.run(LedgerList { tenant: "acme".into(), ..Default::default() }).await.unwrap();
    let keys: Vec<&str> = ledger.iter().filter_map(|e| e.idempotency_key.as_deref()).collect();
    let start = live.now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let end = d.subscription.period_end.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    assert_eq!(keys, [format!("grant:{end}"), format!("grant:{start}")], "one key per period, whole seconds, distinct");
}
