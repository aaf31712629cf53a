use tollgate_core::store::settings::{Durability, Settings, SettingsGet, SettingsSet};

use tollgate_core::Command;
use tollgate_core::domain::validate::MAX_CREDITS;

use crate::common::{assert_invalid, at, on_postgres, world};

#[tokio::test]
async fn defaults_then_partial_changes_that_persist() {
    let w = world().await;
    let fresh = w.run(SettingsGet {}).await.unwrap();
    assert_eq!((fresh.settings, fresh.invalid), (Settings::default(), vec![]), "defaults before anything is set");
    let s = w
        .run(SettingsSet {
            durability: Some(Durability::Strict),
            gateway_listen: Some("0.0.0.0:9402".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .settings;
    assert_eq!((s.durability, s.gateway_listen.as_str()), (Durability::Strict, "0.0.0.0:9402"), "changed");
    assert_eq!(s.retention_days, 30, "others keep their defaults");
    assert_eq!(s.low_balance_threshold, 100, "low-balance threshold defaults to 100 credits");
    let s = w.run(SettingsSet { low_balance_threshold: Some(500), ..Default::default() }).await.unwrap().settings;
    assert_eq!(s.low_balance_threshold, 500, "and can be changed");
    assert_eq!((s.denial_spike_per_minute, s.close_to_tray), (100, true), "desktop alert defaults");
    let s = w
        .run(SettingsSet { denial_spike_per_minute: Some(0), close_to_tray: Some(false), ..Default::default() })
        .await
        .unwrap()
        .settings;
    assert_eq!((s.denial_spike_per_minute, s.close_to_tray), (0, false), "spike alerts off, closing quits");
    w.console.store().close().await;
    let reopened = w.reopen().await;
    let s = SettingsGet {}.run(&reopened, &at(0)).await.unwrap();
    assert_eq!(s.settings.durability, Durability::Strict, "settings survive a restart");
}

#[tokio::test]
async fn bad_settings_are_refused_and_change_nothing() {
    let w = world().await;
    let before = w.dump().await;
    assert_invalid(
        w.run(SettingsSet { admin_listen: Some("localhost".into()), ..Default::default() }).await,
        "admin_listen",
    );
    assert_invalid(
        w.run(SettingsSet { billing_link_template: Some("billing/{tenant}".into()), ..Default::default() }).await,
        "billing_link_template",
    );
    assert_invalid(w.run(SettingsSet { retention_days: Some(0), ..Default::default() }).await, "retention_days");
    assert_invalid(
        w.run(SettingsSet { durability: Some(Durability::Strict), retention_days: Some(-1), ..Default::default() })
            .await,
        "retention_days",
    );
    assert_invalid(
        w.run(SettingsSet { low_balance_threshold: Some(-5), ..Default::default() }).await,
        "low_balance_threshold",
    );
    assert_invalid(
        w.run(SettingsSet { low_balance_threshold: Some(MAX_CREDITS + 1), ..Default::default() }).await,
        "low_balance_threshold",
    );
    assert_invalid(
        w.run(SettingsSet { close_to_tray: Some(false), denial_spike_per_minute: Some(-1), ..Default::default() })
            .await,
        "denial_spike_per_minute",
    );
    assert_eq!(w.dump().await, before, "nothing was stored, not even the valid half");
}

/// Writes `value` as the stored text of setting `key`, as a hand edit or an older version might.
async fn store_raw(w: &crate::common::World, key: &str, value: &str) {
    let mut tx = w.console.store().begin().await.unwrap();
    let sql = w.console.store().engine().pick(
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        "INSERT INTO settings (key, value) VALUES ($1, CAST($2 AS JSONB)) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    );
    tollgate_core::on!(&mut *tx, |c| sqlx::query(sql).bind(key).bind(value).execute(c).await.map(drop)).unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn one_bad_stored_value_falls_back_alone_and_is_reported() {
    let w = world().await;
    w.run(SettingsSet { durability: Some(Durability::Strict), retention_days: Some(7), ..Default::default() })
        .await
        .unwrap();
    store_raw(&w, "upstream_timeout_ms", "\"soon\"").await;
    store_raw(&w, "low_balance_threshold", "-5").await;
    // PostgreSQL keeps settings as JSONB and refuses text that is not JSON at all.
    let not_json = if on_postgres() { "\"not an address\"" } else { "not json" };
    store_raw(&w, "gateway_listen", not_json).await;
    let report = w.run(SettingsGet {}).await.unwrap();
    assert_eq!(report.settings.durability, Durability::Strict, "strict stays strict beside a bad value");
    assert_eq!(report.settings.retention_days, 7, "every valid value is kept");
    let defaults = Settings::default();
    assert_eq!(
        (report.settings.upstream_timeout_ms, report.settings.low_balance_threshold, report.settings.gateway_listen),
        (defaults.upstream_timeout_ms, defaults.low_balance_threshold, defaults.gateway_listen.clone()),
        "each bad value alone falls back to its default"
    );
    let named: Vec<(&str, &str)> = report.invalid.iter().map(|i| (i.key.as_str(), i.stored.as_str())).collect();
    assert_eq!(
        named,
        vec![("gateway_listen", not_json), ("low_balance_threshold", "-5"), ("upstream_timeout_ms", "\"soon\"")],
        "settings.get names the bad ones with what was stored: {:?}",
        report.invalid
    );
    assert!(report.invalid[1].message.contains("0 or more"), "and says why: {}", report.invalid[1].message);

    let repaired = w.run(SettingsSet { low_balance_threshold: Some(100), ..Default::default() }).await.unwrap();
    assert_eq!(repaired.settings.low_balance_threshold, 100, "setting a bad value replaces it");
    let left: Vec<&str> = repaired.invalid.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(left, vec!["gateway_listen", "upstream_timeout_ms"], "even with its default value");
    let after = w.run(SettingsGet {}).await.unwrap();
    assert_eq!(after.invalid.len(), 2, "and it stays repaired: {:?}", after.invalid);
    assert_eq!(after.settings.durability, Durability::Strict, "nothing else moved");
}
