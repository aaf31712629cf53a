use tollgate_core::store::plans::{BillingPeriod, PlanArchive, PlanCreate, PlanList, PlanUpdate};
use tollgate_core::store::tenants::TenantCreate;

use crate::common::{assert_code, assert_invalid, world};

#[tokio::test]
async fn create_fills_defaults_and_derives_the_slug() {
    let w = world().await;
    let plan = w
        .run(PlanCreate {
            name: "Pro Plus".into(),
            rate_per_second: Some(10),
            features: vec!["b".into(), "a".into(), "a".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(plan.slug, "pro-plus", "slug derived from the name");
    assert_eq!((plan.currency.as_str(), plan.billing_period), ("USD", BillingPeriod::Month), "USD monthly by default");
    assert_eq!(plan.burst, 10, "burst defaults to the rate");
    assert_eq!(plan.features, vec!["a", "b"], "features are de-duplicated and sorted");
    assert!(!plan.archived, "a new plan is selectable");
}

#[tokio::test]
async fn create_rejects_bad_input_and_changes_nothing() {
    let w = world().await;
    w.plan("pro", 100).await;
    let before = w.dump().await;
    let base = || PlanCreate { name: "X".into(), ..Default::default() };
    assert_invalid(w.run(PlanCreate { name: "  ".into(), ..base() }).await, "name");
    assert_invalid(w.run(PlanCreate { slug: Some("Bad Slug".into()), ..base() }).await, "slug");
    assert_invalid(w.run(PlanCreate { price_minor: Some(-1), ..base() }).await, "price_minor");
    assert_invalid(w.run(PlanCreate { price_minor: Some(i64::MAX), ..base() }).await, "price_minor");
    assert_invalid(w.run(PlanCreate { currency: Some("EURO".into()), ..base() }).await, "currency");
    assert_invalid(w.run(PlanCreate { currency: Some("XYZ".into()), ..base() }).await, "currency");
    assert_invalid(
        w.run(PlanUpdate { plan: "pro".into(), currency: Some("USS".into()), ..Default::default() }).await,
        "currency",
    );
    assert_invalid(w.run(PlanCreate { credits_per_period: Some(-5), ..base() }).await, "credits_per_period");
    assert_invalid(w.run(PlanCreate { features: vec!["Has Space".into()], ..base() }).await, "features");
    assert_invalid(w.run(PlanCreate { rate_per_second: Some(0), ..base() }).await, "rate_per_second");
    assert_invalid(w.run(PlanCreate { burst: Some(-1), ..base() }).await, "burst");
    assert_invalid(w.run(PlanCreate { period_quota: Some(0), ..base() }).await, "period_quota");
    assert_invalid(w.run(PlanCreate { grace_days: Some(400), ..base() }).await, "grace_days");
    assert_code(w.run(PlanCreate { slug: Some("pro".into()), ..base() }).await, "SLUG_TAKEN");
    assert_eq!(w.dump().await, before, "failed creates change nothing");
}

#[tokio::test]
async fn update_changes_only_given_fields() {
    let w = world().await;
    let before = w
        .run(PlanCreate { name: "Pro".into(), rate_per_second: Some(5), period_quota: Some(100), ..Default::default() })
        .await
        .unwrap();
    let after = w
        .run(PlanUpdate {
            plan: "pro".into(),
            price_minor: Some(900),
            features: Some(vec!["export".into()]),
            rate_per_second: Some(0),
            period_quota: Some(0),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(after.price_minor, 900, "price changed");
    assert_eq!(after.features, vec!["export"], "features replaced");
    assert_eq!(after.rate_per_second, None, "rate 0 means unlimited");
    assert_eq!(after.period_quota, None, "quota 0 removes the quota");
    assert_eq!((after.name.as_str(), after.currency.as_str()), (before.name.as_str(), "USD"), "untouched fields stay");

    let snapshot = w.dump().await;
    assert_code(w.run(PlanUpdate { plan: "nope".into(), ..Default::default() }).await, "NOT_FOUND");
    assert_invalid(
        w.run(PlanUpdate { plan: "pro".into(), currency: Some("1".into()), ..Default::default() }).await,
        "currency",
    );
    assert_invalid(
        w.run(PlanUpdate { plan: "pro".into(), grace_days: Some(-1), ..Default::default() }).await,
        "grace_days",
    );
    assert_eq!(w.dump().await, snapshot, "failed updates change nothing");
}

#[tokio::test]
async fn archived_plans_take_no_new_tenants_and_leave_the_list() {
    let w = world().await;
    w.plan("old", 0).await;
    w.plan("new", 0).await;
    let archived = w.run(PlanArchive { plan: "old".into() }).await.unwrap();
    assert!(archived.archived, "archive sets the flag");
    assert_code(w.run(PlanArchive { plan: "old".into() }).await, "PLAN_ARCHIVED");
    assert_code(w.run(PlanArchive { plan: "ghost".into() }).await, "NOT_FOUND");
    let result = w.run(TenantCreate { name: "acme".into(), plan: "old".into(), ..Default::default() }).await;
    assert_code(result, "PLAN_ARCHIVED");
    let visible: Vec<String> = w.run(PlanList::default()).await.unwrap().iter().map(|p| p.slug.clone()).collect();
    assert_eq!(visible, vec!["new"], "archived plans are hidden by default");
    let all = w.run(PlanList { include_archived: true }).await.unwrap();
    assert_eq!(all.len(), 2, "include_archived shows them");
}
