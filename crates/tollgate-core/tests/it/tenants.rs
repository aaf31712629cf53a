use tollgate_core::store::keys::KeyIssue;
use tollgate_core::store::settings::SettingsSet;
use tollgate_core::store::subscriptions::SubscriptionStatus;
use tollgate_core::store::tenants::{
    Standing, TenantBlock, TenantCreate, TenantList, TenantResume, TenantShow, TenantSuspend, TenantUpdate,
};

use crate::common::{assert_code, assert_invalid, t0, world};

#[tokio::test]
async fn create_puts_the_tenant_on_its_plan_with_the_first_grant() {
    let w = world().await;
    w.plan("pro", 10_000).await;
    let d = w
        .run(TenantCreate {
            name: "Acme Corp".into(),
            plan: "pro".into(),
            contact_email: Some("ops@acme.io".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(d.tenant.slug, "acme-corp", "slug derived from the name");
    assert_eq!(d.tenant.balance, 10_000, "the first period's credits are granted");
    assert_eq!(d.subscription.status, SubscriptionStatus::Active, "a paid plan starts active");
    assert_eq!(d.subscription.period_start, t0(), "the period starts now");
    assert_eq!(
        d.subscription.period_end.to_rfc3339(),
        "2026-02-15T12:00:00+00:00",
        "a monthly period ends a month later"
    );
    assert_eq!(d.billing_link, "https://billing.example.com/acme-corp", "the template is filled with the slug");

    let trial = w
        .run(TenantCreate { name: "trial co".into(), plan: "pro".into(), trial_days: Some(14), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(trial.subscription.status, SubscriptionStatus::Trialing, "trial_days starts a trial");
}

#[tokio::test]
async fn create_rejects_bad_input_and_changes_nothing() {
    let w = world().await;
    w.plan("pro", 0).await;
    w.tenant("acme", "pro").await;
    let before = w.dump().await;
    let base = || TenantCreate { name: "new".into(), plan: "pro".into(), ..Default::default() };
    assert_invalid(w.run(TenantCreate { name: "".into(), ..base() }).await, "name");
    assert_invalid(w.run(TenantCreate { slug: Some("UPPER".into()), ..base() }).await, "slug");
    assert_invalid(w.run(TenantCreate { contact_email: Some("not-an-email".into()), ..base() }).await, "contact_email");
    assert_invalid(
        w.run(TenantCreate { billing_link: Some("javascript:alert(1)".into()), ..base() }).await,
        "billing_link",
    );
    assert_invalid(w.run(TenantCreate { trial_days: Some(0), ..base() }).await, "trial_days");
    assert_code(w.run(TenantCreate { plan: "missing".into(), ..base() }).await, "NOT_FOUND");
    assert_code(w.run(TenantCreate { slug: Some("acme".into()), ..base() }).await, "SLUG_TAKEN");
    assert_eq!(w.dump().await, before, "failed creates change nothing");
}

#[tokio::test]
async fn update_and_clear_optional_fields() {
    let w = world().await;
    w.plan("pro", 0).await;
    w.tenant("acme", "pro").await;
    let t = w
        .run(TenantUpdate {
            tenant: "acme".into(),
            contact_email: Some("a@b.co".into()),
            billing_link: Some("https://pay.acme.io/x".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(t.contact_email.as_deref(), Some("a@b.co"), "email set");
    let shown = w.run(TenantShow { tenant: "acme".into() }).await.unwrap();
    assert_eq!(shown.billing_link, "https://pay.acme.io/x", "the tenant's own link wins over the template");
    let t = w
        .run(TenantUpdate { tenant: "acme".into(), contact_email: Some("".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(t.contact_email, None, "an empty value clears");
    assert_eq!(t.billing_link.as_deref(), Some("https://pay.acme.io/x"), "fields not given stay");
    let before = w.dump().await;
    assert_invalid(
        w.run(TenantUpdate { tenant: "acme".into(), contact_email: Some("x@".into()), ..Default::default() }).await,
        "contact_email",
    );
    assert_code(w.run(TenantUpdate { tenant: "ghost".into(), ..Default::default() }).await, "NOT_FOUND");
    assert_eq!(w.dump().await, before, "failed updates change nothing");
}

#[tokio::test]
async fn standing_moves_and_repeats_are_harmless() {
    let w = world().await;
    w.plan("pro", 0).await;
    w.tenant("acme", "pro").await;
    let t = w.run(TenantSuspend { tenant: "acme".into(), reason: Some("card declined".into()) }).await.unwrap();
    assert_eq!(t.standing, Standing::Suspended, "suspended for non-payment");
    let again = w.run(TenantSuspend { tenant: "acme".into(), reason: None }).await.unwrap();
    assert_eq!(again, t, "suspending twice changes nothing");
    let t = w.run(TenantBlock { tenant: "acme".into(), reason: Some("scraping".into()) }).await.unwrap();
    assert_eq!(t.standing, Standing::Blocked, "blocked for abuse");
    let t = w.run(TenantResume { tenant: "acme".into(), reason: None }).await.unwrap();
    assert_eq!(t.standing, Standing::Active, "resume restores good standing");
    assert_code(w.run(TenantBlock { tenant: "ghost".into(), reason: None }).await, "NOT_FOUND");
}

#[tokio::test]
async fn list_searches_and_show_gathers_everything() {
    let w = world().await;
    w.plan("pro", 50).await;
    w.tenant("acme", "pro").await;
    w.tenant("globex", "pro").await;
    w.run(SettingsSet {
        billing_link_template: Some("https://pay.example.org/t/{tenant}".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    w.run(KeyIssue { tenant: "acme".into(), ..Default::default() }).await.unwrap();
    let all = w.run(TenantList::default()).await.unwrap();
    assert_eq!(all.iter().map(|r| r.slug.as_str()).collect::<Vec<_>>(), ["acme", "globex"], "sorted by slug");
    assert_eq!((all[0].plan.as_str(), all[0].balance), ("pro", 50), "rows carry plan and balance");
    let found = w.run(TenantList { search: Some("glob".into()) }).await.unwrap();
    assert_eq!(found.len(), 1, "search narrows the list");
    let d = w.run(TenantShow { tenant: "acme".into() }).await.unwrap();
    assert_eq!(d.keys.len(), 1, "show lists the keys");
    assert_eq!(d.billing_link, "https://pay.example.org/t/acme", "the template from settings is used");
    assert_code(w.run(TenantShow { tenant: "ghost".into() }).await, "NOT_FOUND");
}
