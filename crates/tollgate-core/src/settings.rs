//! Operator settings: billing link template, problem type base, listen addresses, durability.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use sqlx::SqliteConnection;
use utoipa::ToSchema;

use crate::audit::{self, Change};
use crate::command::{Command, Ctx};
use crate::tenants::Tenant;
use crate::{Console, ConsoleError, validate};

/// How the gateway writes charges to the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// Group commit at least every 50 ms; a crash loses at most that window.
    Batched,
    /// An answer leaves only after its charge is committed.
    Strict,
}

/// All settings, with defaults for what the operator has not set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Settings {
    /// Where a tenant pays; `{tenant}` is replaced by the tenant's slug.
    pub billing_link_template: String,
    /// Base URI of the `type` member of problem responses; the code is appended.
    pub problem_type_base: String,
    /// Address the gateway listens on.
    pub gateway_listen: String,
    /// Address the admin API listens on (loopback unless you mean otherwise).
    pub admin_listen: String,
    pub durability: Durability,
    /// Days denials are kept.
    pub retention_days: i64,
    /// How long the gateway waits for the upstream's response headers before a 504.
    pub upstream_timeout_ms: i64,
    /// Credits at or below which a tenant is flagged as running low (dashboard marker,
    /// desktop notification), so the operator can reach out before traffic stops.
    pub low_balance_threshold: i64,
    /// Denials within a minute that count as a spike worth a desktop notification;
    /// 0 turns those notifications off.
    pub denial_spike_per_minute: i64,
    /// Closing the desktop window keeps the gateway running in the tray (quit from the
    /// tray menu); off, closing the window quits.
    pub close_to_tray: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            billing_link_template: "https://billing.example.com/{tenant}".into(),
            problem_type_base: "https://tollgate.example.com/problems/".into(),
            gateway_listen: "127.0.0.1:8402".into(),
            admin_listen: "127.0.0.1:8401".into(),
            durability: Durability::Batched,
            retention_days: 30,
            upstream_timeout_ms: 30_000,
            low_balance_threshold: 100,
            denial_spike_per_minute: 100,
            close_to_tray: true,
        }
    }
}

/// The link where `tenant` pays: its own, or the template filled with its slug.
pub fn billing_link(settings: &Settings, tenant: &Tenant) -> String {
    tenant.billing_link.clone().unwrap_or_else(|| settings.billing_link_template.replace("{tenant}", &tenant.slug))
}

/// Reads the stored settings over the defaults.
pub async fn load(conn: &mut SqliteConnection) -> Result<Settings, ConsoleError> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT key, value FROM settings").fetch_all(conn).await?;
    let mut merged = serde_json::to_value(Settings::default()).expect("settings serialize");
    for (key, value) in rows {
        if let Ok(v) = serde_json::from_str(&value) {
            merged[key] = v;
        }
    }
    Ok(serde_json::from_value(merged).unwrap_or_default())
}

/// `settings.get`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct SettingsGet {}

impl Command for SettingsGet {
    const NAME: &'static str = "settings.get";
    const SUMMARY: &'static str = "Show the settings";
    type Output = Settings;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<Settings, ConsoleError> {
        let mut conn = console.store().read().acquire().await?;
        load(&mut conn).await
    }
}

/// `settings.set`: changes only the settings given.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct SettingsSet {
    #[cfg_attr(feature = "cli", arg(long))]
    pub billing_link_template: Option<String>,
    #[cfg_attr(feature = "cli", arg(long))]
    pub problem_type_base: Option<String>,
    #[cfg_attr(feature = "cli", arg(long))]
    pub gateway_listen: Option<String>,
    #[cfg_attr(feature = "cli", arg(long))]
    pub admin_listen: Option<String>,
    #[cfg_attr(feature = "cli", arg(long, value_enum))]
    pub durability: Option<Durability>,
    #[cfg_attr(feature = "cli", arg(long))]
    pub retention_days: Option<i64>,
    #[cfg_attr(feature = "cli", arg(long))]
    pub upstream_timeout_ms: Option<i64>,
    #[cfg_attr(feature = "cli", arg(long))]
    pub low_balance_threshold: Option<i64>,
    #[cfg_attr(feature = "cli", arg(long))]
    pub denial_spike_per_minute: Option<i64>,
    #[cfg_attr(feature = "cli", arg(long))]
    pub close_to_tray: Option<bool>,
}

fn listen(field: &str, s: &str) -> Result<String, ConsoleError> {
    s.trim()
        .parse::<SocketAddr>()
        .map(|a| a.to_string())
        .map_err(|_| ConsoleError::invalid(field, format!("'{s}' is not an IP address and port, e.g. 127.0.0.1:8402")))
}

impl Command for SettingsSet {
    const NAME: &'static str = "settings.set";
    const SUMMARY: &'static str = "Change settings";
    type Output = Settings;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<Settings, ConsoleError> {
        let mut tx = console.begin().await?;
        let before = load(&mut tx).await?;
        let mut s = before.clone();
        if let Some(t) = &self.billing_link_template {
            s.billing_link_template = validate::http_url("billing_link_template", t)?;
        }
        if let Some(t) = &self.problem_type_base {
            s.problem_type_base = validate::http_url("problem_type_base", t)?;
        }
        if let Some(a) = &self.gateway_listen {
            s.gateway_listen = listen("gateway_listen", a)?;
        }
        if let Some(a) = &self.admin_listen {
            s.admin_listen = listen("admin_listen", a)?;
        }
        if let Some(d) = self.durability {
            s.durability = d;
        }
        if let Some(days) = self.retention_days {
            if !(1..=3650).contains(&days) {
                return Err(ConsoleError::invalid("retention_days", format!("must be 1-3650, got {days}")));
            }
            s.retention_days = days;
        }
        if let Some(ms) = self.upstream_timeout_ms {
            if !(100..=600_000).contains(&ms) {
                return Err(ConsoleError::invalid("upstream_timeout_ms", format!("must be 100-600000, got {ms}")));
            }
            s.upstream_timeout_ms = ms;
        }
        if let Some(credits) = self.low_balance_threshold {
            if credits < 0 {
                return Err(ConsoleError::invalid(
                    "low_balance_threshold",
                    format!("must be 0 or more, got {credits}"),
                ));
            }
            s.low_balance_threshold = credits;
        }
        if let Some(count) = self.denial_spike_per_minute {
            if !(0..=1_000_000).contains(&count) {
                return Err(ConsoleError::invalid(
                    "denial_spike_per_minute",
                    format!("must be 0 (off) to 1000000, got {count}"),
                ));
            }
            s.denial_spike_per_minute = count;
        }
        if let Some(on) = self.close_to_tray {
            s.close_to_tray = on;
        }
        let (old, new) =
            (serde_json::to_value(&before).expect("serialize"), serde_json::to_value(&s).expect("serialize"));
        for (key, value) in new.as_object().expect("settings are an object") {
            if old.get(key) != Some(value) {
                sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                    .bind(key)
                    .bind(value.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let change = Change::updated(Self::NAME, "settings".into(), &before, &s);
        audit::commit(console, tx, ctx, change).await?;
        Ok(s)
    }
}
