//! Every text field a person types refuses control characters (escape sequences, carriage
//! returns, bidi overrides) naming the field, so nothing stored can rewrite a terminal.

use tollgate_core::store::credits::{Adjust, TopUp};
use tollgate_core::store::import::{ImportFormat, TenantImport};
use tollgate_core::store::keys::{KeyIssue, KeyRevoke};
use tollgate_core::store::plans::{PlanCreate, PlanUpdate};
use tollgate_core::store::routes::RouteCreate;
use tollgate_core::store::settings::SettingsSet;
use tollgate_core::store::subscriptions::{ChangePlan, Renew};
use tollgate_core::store::tenants::{TenantCreate, TenantSuspend, TenantUpdate};

use crate::common::{assert_invalid, world};

const BAD: [&str; 4] = ["\x1b[2J\x1b[Hpwned", "two\nlines", "back\rspace", "evil\u{202e}gnp.exe"];

#[tokio::test]
async fn control_characters_are_refused_in_every_text_field() {
    let w = world().await;
    w.plan("pro", 10).await;
    w.tenant("acme", "pro").await;
    let key = w.run(KeyIssue { tenant: "acme".into(), ..Default::default() }).await.unwrap();
    let before = w.dump().await;
    for bad in BAD {
        let text = || format!("Acme {bad}");
        let some = || Some(text());
        assert_invalid(w.run(PlanCreate { name: text(), slug: Some("p2".into()), ..Default::default() }).await, "name");
        assert_invalid(w.run(PlanUpdate { plan: "pro".into(), name: some(), ..Default::default() }).await, "name");
        assert_invalid(
            w.run(TenantCreate { name: text(), slug: Some("t2".into()), plan: "pro".into(), ..Default::default() })
                .await,
            "name",
        );
        assert_invalid(
            w.run(TenantCreate {
                name: "T2".into(),
                plan: "pro".into(),
                contact_email: Some(format!("ops@acme.io{bad}")),
                ..Default::default()
            })
            .await,
            "contact_email",
        );
        assert_invalid(
            w.run(TenantCreate {
                name: "T2".into(),
                plan: "pro".into(),
                billing_link: Some(format!("https://pay.acme.io/{bad}")),
                ..Default::default()
            })
            .await,
            "billing_link",
        );
        assert_invalid(w.run(TenantUpdate { tenant: "acme".into(), name: some(), ..Default::default() }).await, "name");
        assert_invalid(w.run(KeyIssue { tenant: "acme".into(), name: some(), ..Default::default() }).await, "name");
        assert_invalid(w.run(KeyRevoke { key: key.key.prefix.clone(), reason: some() }).await, "reason");
        assert_invalid(
            w.run(TopUp {
                tenant: "acme".into(),
                amount: 5,
                idempotency_key: "k1".into(),
                note: some(),
                paid_minor: None,
            })
            .await,
            "note",
        );
        assert_invalid(
            w.run(Adjust { tenant: "acme".into(), amount: 5, idempotency_key: "k2".into(), reason: text() }).await,
            "reason",
        );
        assert_invalid(w.run(TenantSuspend { tenant: "acme".into(), reason: some() }).await, "reason");
        assert_invalid(w.run(ChangePlan { tenant: "acme".into(), plan: "pro".into(), reason: some() }).await, "reason");
        assert_invalid(w.run(Renew { tenant: "acme".into(), reason: some() }).await, "reason");
        assert_invalid(
            w.run(RouteCreate {
                path_prefix: "/v1".into(),
                upstream_url: format!("http://127.0.0.1:9/{bad}"),
                ..Default::default()
            })
            .await,
            "upstream_url",
        );
        assert_invalid(
            w.run(SettingsSet { billing_link_template: Some(format!("https://pay.io/{bad}")), ..Default::default() })
                .await,
            "billing_link_template",
        );
        let data = serde_json::json!({"name": text(), "plan": "pro"}).to_string();
        assert_invalid(w.run(TenantImport { format: ImportFormat::Jsonl, data, dry_run: false }).await, "line 1: name");
    }
    let e = w.run(PlanCreate { name: "Pro\x07".into(), ..Default::default() }).await.unwrap_err();
    assert!(e.to_string().contains("control characters (found U+0007)"), "the message says what was found: {e}");
    assert_eq!(w.dump().await, before, "nothing was stored");
}
