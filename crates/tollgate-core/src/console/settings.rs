//! `settings.get`, `settings.set`: the operator's settings, secrets redacted in the audit log.

use crate::console::command::{Command, Ctx};
use crate::console::commit::commit;
use crate::store::audit::Change;
use crate::store::settings::{self, SettingsGet, SettingsReport, SettingsSet, apply, load_report, redacted};
use crate::{Console, ConsoleError};

impl Command for SettingsGet {
    const NAME: &'static str = "settings.get";
    const SUMMARY: &'static str = "Show the settings (and any stored value that is not valid)";
    type Output = SettingsReport;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<SettingsReport, ConsoleError> {
        let mut conn = console.store().reader().await?;
        Ok(SettingsReport { listening: console.listening().cloned(), ..load_report(&mut conn).await? })
    }
}

impl Command for SettingsSet {
    const NAME: &'static str = "settings.set";
    const SUMMARY: &'static str = "Change settings";
    type Output = SettingsReport;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<SettingsReport, ConsoleError> {
        let given = serde_json::to_value(&self).expect("settings inputs serialize");
        let mut tx = console.begin().await?;
        let report = load_report(&mut tx).await?;
        let before = report.settings;
        let mut s = before.clone();
        let mut written = Vec::new();
        for (key, value) in given.as_object().expect("settings inputs are an object") {
            if !value.is_null() {
                apply(&mut s, key, value)?;
                written.push(key.clone());
            }
        }
        if s.gateway_tls_cert.is_empty() != s.gateway_tls_key.is_empty() {
            let missing = if s.gateway_tls_key.is_empty() { "gateway_tls_key" } else { "gateway_tls_cert" };
            return Err(ConsoleError::invalid(
                missing,
                "HTTPS needs both gateway_tls_cert and gateway_tls_key (or neither, for plain HTTP)",
            ));
        }
        let (old, new) =
            (serde_json::to_value(&before).expect("serialize"), serde_json::to_value(&s).expect("serialize"));
        for key in &written {
            // Also rewrites a value equal to its default when what was stored there is not
            // valid: setting it repairs it.
            let repairs = report.invalid.iter().any(|i| &i.key == key);
            if old.get(key) != new.get(key) || repairs {
                settings::put(&mut tx, key, &new[key]).await?;
            }
        }
        let invalid = report.invalid.into_iter().filter(|i| !written.contains(&i.key)).collect();
        let change = Change::updated(Self::NAME, "settings".into(), &redacted(&before), &redacted(&s));
        commit(console, tx, ctx, change).await?;
        Ok(SettingsReport { settings: s, invalid, listening: console.listening().cloned() })
    }
}
