use tollgate_core::settings::{Durability, Settings, SettingsGet, SettingsSet};

use tollgate_core::Command;

use crate::common::{assert_invalid, at, world};

#[tokio::test]
async fn defaults_then_partial_changes_that_persist() {
    let w = world().await;
    assert_eq!(w.run(SettingsGet {}).await.unwrap(), Settings::default(), "defaults before anything is set");
    let s = w
        .run(SettingsSet {
            durability: Some(Durability::Strict),
            gateway_listen: Some("0.0.0.0:9402".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((s.durability, s.gateway_listen.as_str()), (Durability::Strict, "0.0.0.0:9402"), "changed");
    assert_eq!(s.retention_days, 30, "others keep their defaults");
    assert_eq!(s.low_balance_threshold, 100, "low-balance threshold defaults to 100 credits");
    let s = w.run(SettingsSet { low_balance_threshold: Some(500), ..Default::default() }).await.unwrap();
    assert_eq!(s.low_balance_threshold, 500, "and can be changed");
    assert_eq!((s.denial_spike_per_minute, s.close_to_tray), (100, true), "desktop alert defaults");
    let s = w
        .run(SettingsSet { denial_spike_per_minute: Some(0), close_to_tray: Some(false), ..Default::default() })
        .await
        .unwrap();
    assert_eq!((s.denial_spike_per_minute, s.close_to_tray), (0, false), "spike alerts off, closing quits");
    w.console.store().close().await;
    let reopened = tollgate_core::Console::open(&w.dir.path().join("tollgate.db")).await.unwrap();
    let s = SettingsGet {}.run(&reopened, &at(0)).await.unwrap();
    assert_eq!(s.durability, Durability::Strict, "settings survive a restart");
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
        w.run(SettingsSet { close_to_tray: Some(false), denial_spike_per_minute: Some(-1), ..Default::default() })
            .await,
        "denial_spike_per_minute",
    );
    assert_eq!(w.dump().await, before, "nothing was stored, not even the valid half");
}
