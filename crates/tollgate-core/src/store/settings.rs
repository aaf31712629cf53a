//! Operator settings: billing link template, problem type base, listen addresses (gateway,
//! admin API, metrics), durability.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ConsoleError;
use crate::domain::cidr::{self, Cidr};
use crate::domain::metering::{self, ModelPrice};
use crate::domain::payment_terms;
use crate::domain::validate;
use crate::domain::x402::X402Terms;
use crate::store::tenants::Tenant;
use crate::store::{Connection, on};

/// How the gateway writes charges to the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// Answers at once; charges are summed per tenant in memory and written every
    /// `usage_flush_ms` (default 2000 ms), into one ledger entry per tenant per 10 s. A
    /// crash loses at most the charges not yet written: in the tenant's favour, never an
    /// overspend.
    Batched,
    /// An answer leaves only after its charge is committed, durable on power loss (on
    /// SQLite to the usage journal, folded into the ledger every `usage_flush_ms`).
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
    /// The gateway's certificate chain (PEM file, absolute path); with
    /// `gateway_tls_key`, the gateway serves HTTPS with HTTP/2 and HTTP/1.1 (from the next
    /// start). Empty: plain HTTP.
    pub gateway_tls_cert: String,
    /// The private key of `gateway_tls_cert` (PEM file, absolute path).
    pub gateway_tls_key: String,
    /// Address serving Prometheus metrics at `/metrics` without a token; empty: only on
    /// the admin API, behind its token.
    pub metrics_listen: String,
    pub durability: Durability,
    /// How often usage reaches the ledger (one entry per tenant): in `batched` durability
    /// the charges summed in memory (the most usage a crash can lose); in `strict` (SQLite)
    /// the charges already committed to the usage journal.
    pub usage_flush_ms: i64,
    /// Days denials and the per-request charges of `strict` requests are kept.
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
    /// Proxies (CIDR blocks) whose `X-Forwarded-For` the gateway believes, e.g. the load
    /// balancer in front of it; empty: the TCP peer is the client.
    #[schema(value_type = Vec<String>)]
    pub trusted_proxies: Vec<Cidr>,
    /// The signing secret (`whsec_…`) of the Stripe webhook endpoint the gateway serves at
    /// `/_tollgate/stripe`; empty: the endpoint is off.
    pub stripe_webhook_secret: String,
    /// What each model costs on routes metered by `usage`, in credits per million tokens.
    pub model_prices: Vec<ModelPrice>,
    /// Percent added to every usage price (0–1000), e.g. 20 sells at 1.2× the table.
    pub price_markup_percent: i64,
    /// x402: the CAIP-2 network payments are taken on (e.g. `eip155:8453`); empty: x402 and
    /// the Payment challenge are off.
    pub x402_network: String,
    /// x402: the EIP-3009 token contract paid in (e.g. USDC's address on that network).
    pub x402_asset: String,
    /// x402: the token's EIP-712 domain name and version (`USD Coin` and `2` for USDC on Base).
    pub x402_asset_name: String,
    pub x402_asset_version: String,
    /// x402: the address payments go to.
    pub x402_pay_to: String,
    /// x402: the facilitator that verifies and settles payments (`…/verify`, `…/settle`).
    pub x402_facilitator_url: String,
    /// x402: credits one atomic unit of the asset buys (USDC has 6 decimals: 1 unit is
    /// 0.000001 USDC).
    pub x402_credits_per_unit: i64,
    /// x402: the top-ups offered in a 402, in credits (the smallest that covers the call first).
    pub x402_top_ups: Vec<i64>,
    /// x402: seconds a signed payment stays valid.
    pub x402_max_timeout_seconds: i64,
    /// The secret binding the `id` of Payment challenges (HMAC-SHA256); empty: a random one
    /// per process (nodes sharing a database need the same one set here).
    pub payment_challenge_secret: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            billing_link_template: "https://billing.example.com/{tenant}".into(),
            problem_type_base: "https://tollgate.example.com/problems/".into(),
            gateway_listen: "127.0.0.1:8402".into(),
            admin_listen: "127.0.0.1:8401".into(),
            gateway_tls_cert: String::new(),
            gateway_tls_key: String::new(),
            metrics_listen: String::new(),
            durability: Durability::Batched,
            usage_flush_ms: 2000,
            retention_days: 30,
            upstream_timeout_ms: 30_000,
            low_balance_threshold: 100,
            denial_spike_per_minute: 100,
            close_to_tray: true,
            stripe_webhook_secret: String::new(),
            trusted_proxies: Vec::new(),
            model_prices: Vec::new(),
            price_markup_percent: 0,
            x402_network: String::new(),
            x402_asset: String::new(),
            x402_asset_name: "USD Coin".into(),
            x402_asset_version: "2".into(),
            x402_pay_to: String::new(),
            x402_facilitator_url: String::new(),
            x402_credits_per_unit: 1,
            x402_top_ups: vec![1_000, 10_000],
            x402_max_timeout_seconds: 60,
            payment_challenge_secret: String::new(),
        }
    }
}

impl Settings {
    /// How x402 payments are taken, when they are on (network, asset, payee and facilitator
    /// all set).
    pub fn x402_terms(&self) -> Option<X402Terms> {
        let on = [&self.x402_network, &self.x402_asset, &self.x402_pay_to, &self.x402_facilitator_url]
            .iter()
            .all(|v| !v.is_empty());
        on.then(|| X402Terms {
            network: self.x402_network.clone(),
            asset: self.x402_asset.clone(),
            asset_name: self.x402_asset_name.clone(),
            asset_version: self.x402_asset_version.clone(),
            pay_to: self.x402_pay_to.clone(),
            credits_per_unit: self.x402_credits_per_unit,
            top_ups: self.x402_top_ups.clone(),
            max_timeout_seconds: u64::try_from(self.x402_max_timeout_seconds).unwrap_or(60),
        })
    }
}

/// The link where `tenant` pays: its own, or the template filled with its slug.
pub fn billing_link(settings: &Settings, tenant: &Tenant) -> String {
    tenant.billing_link.clone().unwrap_or_else(|| settings.billing_link_template.replace("{tenant}", &tenant.slug))
}

/// A stored setting that is not valid: it is ignored (its default is in force) until a
/// `settings set` replaces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InvalidSetting {
    /// The setting's name, e.g. `durability`.
    pub key: String,
    /// The stored text, as found.
    pub stored: String,
    /// Why it was refused.
    pub message: String,
}

/// What `settings.get` and `settings.set` answer: the settings in force and any stored
/// value that was refused (each falls back to its default alone; the others still apply).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SettingsReport {
    #[serde(flatten)]
    pub settings: Settings,
    /// Stored values that are not valid, in force as their defaults until set again.
    pub invalid: Vec<InvalidSetting>,
    /// Where the running server listens now, which the command line may have chosen over
    /// the stored `admin_listen` and `gateway_listen` (those then apply at the next start).
    /// Absent when no server runs this command (the CLI on the database directly).
    pub listening: Option<Listening>,
}

/// The addresses a running server listens on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Listening {
    /// The admin API's address, e.g. `127.0.0.1:8401`.
    pub admin_listen: String,
    /// The gateway's address, e.g. `127.0.0.1:8402`.
    pub gateway_listen: String,
    /// The gateway serves HTTPS (HTTP/2 and HTTP/1.1), not plain HTTP.
    pub gateway_tls: bool,
    /// Where the dashboard opens (the admin API's URL; the admin token is not in it).
    pub dashboard_url: String,
    /// Where Prometheus scrapes, e.g. `http://127.0.0.1:8401/metrics`.
    pub metrics_url: String,
    /// The separate metrics address, when one was given (`metrics_listen`); then
    /// `metrics_url` needs no token, else it is the admin API's and needs its token.
    pub metrics_listen: Option<String>,
}

/// Reads the stored settings over the defaults; a stored value that is not valid keeps
/// its default and is logged (see [`load_report`] to name them).
pub async fn load(conn: &mut Connection) -> Result<Settings, ConsoleError> {
    Ok(load_report(conn).await?.settings)
}

/// Reads the stored settings over the defaults, each checked by the rules `settings.set`
/// applies: one bad value falls back to its default alone and is reported, never the rest.
pub async fn load_report(conn: &mut Connection) -> Result<SettingsReport, ConsoleError> {
    let rows: Vec<(String, String)> =
        on!(conn, |c| sqlx::query_as("SELECT key, CAST(value AS TEXT) FROM settings ORDER BY key").fetch_all(c).await)?;
    let mut settings = Settings::default();
    let mut invalid = Vec::new();
    for (key, stored) in rows {
        let applied = serde_json::from_str::<serde_json::Value>(&stored)
            .map_err(|e| ConsoleError::invalid(&key, format!("not JSON: {e}")))
            .and_then(|value| apply(&mut settings, &key, &value));
        match applied {
            Ok(true) => {}
            // A setting this version does not know (an older one's, or a newer one's): kept, unused.
            Ok(false) => tracing::debug!(%key, "ignoring an unknown stored setting"),
            Err(e) => {
                let message = match e {
                    ConsoleError::Invalid { message, .. } => message,
                    other => other.to_string(),
                };
                tracing::warn!(%key, %stored, %message, "a stored setting is not valid; its default is in force until `tollgate settings set` replaces it");
                invalid.push(InvalidSetting { key, stored, message });
            }
        }
    }
    Ok(SettingsReport { settings, invalid, listening: None })
}

/// Sets `key` on `s` from its JSON value, checked; `Ok(false)` for a key that is no setting.
/// The one place the rules live: `settings.set` and the loader both go through it.
pub(crate) fn apply(s: &mut Settings, key: &str, value: &serde_json::Value) -> Result<bool, ConsoleError> {
    fn typed<T: serde::de::DeserializeOwned>(key: &str, value: &serde_json::Value) -> Result<T, ConsoleError> {
        T::deserialize(value).map_err(|e| ConsoleError::invalid(key, e.to_string()))
    }
    fn within(key: &str, n: i64, range: std::ops::RangeInclusive<i64>, what: &str) -> Result<i64, ConsoleError> {
        if range.contains(&n) { Ok(n) } else { Err(ConsoleError::invalid(key, format!("must be {what}, got {n}"))) }
    }
    match key {
        "billing_link_template" => s.billing_link_template = validate::http_url(key, &typed::<String>(key, value)?)?,
        "problem_type_base" => s.problem_type_base = validate::http_url(key, &typed::<String>(key, value)?)?,
        "gateway_listen" => s.gateway_listen = listen(key, &typed::<String>(key, value)?)?,
        "admin_listen" => s.admin_listen = listen(key, &typed::<String>(key, value)?)?,
        "gateway_tls_cert" => s.gateway_tls_cert = pem_file(key, &typed::<String>(key, value)?)?,
        "gateway_tls_key" => s.gateway_tls_key = pem_file(key, &typed::<String>(key, value)?)?,
        "metrics_listen" => {
            let given = typed::<String>(key, value)?;
            s.metrics_listen = if given.trim().is_empty() { String::new() } else { listen(key, &given)? };
        }
        "durability" => s.durability = typed(key, value)?,
        "usage_flush_ms" => s.usage_flush_ms = within(key, typed(key, value)?, USAGE_FLUSH_MS, "10-60000")?,
        "retention_days" => s.retention_days = within(key, typed(key, value)?, RETENTION_DAYS, "1-3650")?,
        "upstream_timeout_ms" => {
            s.upstream_timeout_ms = within(key, typed(key, value)?, UPSTREAM_TIMEOUT_MS, "100-600000")?
        }
        "low_balance_threshold" => {
            s.low_balance_threshold = within(key, typed(key, value)?, 0..=validate::MAX_CREDITS, "0 or more")?
        }
        "denial_spike_per_minute" => {
            s.denial_spike_per_minute = within(key, typed(key, value)?, DENIAL_SPIKE, "0 (off) to 1000000")?
        }
        "close_to_tray" => s.close_to_tray = typed(key, value)?,
        "stripe_webhook_secret" => s.stripe_webhook_secret = signing_secret(key, &typed::<String>(key, value)?)?,
        "trusted_proxies" => s.trusted_proxies = cidr::list(key, &typed::<Vec<String>>(key, value)?)?,
        "model_prices" => {
            let prices: Vec<ModelPrice> = typed(key, value)?;
            metering::check_prices(key, &prices)?;
            s.model_prices = prices;
        }
        "price_markup_percent" => s.price_markup_percent = metering::check_markup(key, typed(key, value)?)?,
        "x402_network" => s.x402_network = payment_terms::network(key, &typed::<String>(key, value)?)?,
        "x402_asset" => s.x402_asset = payment_terms::address(key, &typed::<String>(key, value)?)?,
        "x402_asset_name" => s.x402_asset_name = payment_terms::label(key, &typed::<String>(key, value)?)?,
        "x402_asset_version" => s.x402_asset_version = payment_terms::label(key, &typed::<String>(key, value)?)?,
        "x402_pay_to" => s.x402_pay_to = payment_terms::address(key, &typed::<String>(key, value)?)?,
        "x402_facilitator_url" => {
            let url = typed::<String>(key, value)?;
            s.x402_facilitator_url = if url.trim().is_empty() { String::new() } else { validate::http_url(key, &url)? };
        }
        "x402_credits_per_unit" => {
            s.x402_credits_per_unit = within(key, typed(key, value)?, 1..=1_000_000_000, "1-1000000000")?
        }
        "x402_top_ups" => s.x402_top_ups = payment_terms::top_ups(key, &typed::<Vec<i64>>(key, value)?)?,
        "x402_max_timeout_seconds" => {
            s.x402_max_timeout_seconds = within(key, typed(key, value)?, 10..=3600, "10-3600")?
        }
        "payment_challenge_secret" => {
            s.payment_challenge_secret = payment_terms::secret(key, &typed::<String>(key, value)?)?
        }
        _ => return Ok(false),
    }
    Ok(true)
}

const RETENTION_DAYS: std::ops::RangeInclusive<i64> = 1..=3650;
const USAGE_FLUSH_MS: std::ops::RangeInclusive<i64> = 10..=60_000;
const UPSTREAM_TIMEOUT_MS: std::ops::RangeInclusive<i64> = 100..=600_000;
const DENIAL_SPIKE: std::ops::RangeInclusive<i64> = 0..=1_000_000;

/// `settings.get`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct SettingsGet {}

/// `settings.set`: changes only the settings given.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct SettingsSet {
    /// Where a tenant pays, an http(s) URL; `{tenant}` is replaced by the tenant's slug.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^https?://[^\s/?#:][^\s]*$")]
    pub billing_link_template: Option<String>,
    /// Base URI of the `type` member of problem responses, an http(s) URL.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^https?://[^\s/?#:][^\s]*$")]
    pub problem_type_base: Option<String>,
    /// IP address and port the gateway listens on (after a restart), e.g. 127.0.0.1:8402.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^(\d{1,3}(\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]):\d{1,5}$")]
    pub gateway_listen: Option<String>,
    /// IP address and port the admin API listens on (after a restart), e.g. 127.0.0.1:8401.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^(\d{1,3}(\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]):\d{1,5}$")]
    pub admin_listen: Option<String>,
    /// The gateway's certificate chain, a PEM file's absolute path (from the next start;
    /// give `gateway_tls_key` too); empty turns HTTPS off.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 4096)]
    pub gateway_tls_cert: Option<String>,
    /// The certificate's private key, a PEM file's absolute path; empty turns HTTPS off.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 4096)]
    pub gateway_tls_key: Option<String>,
    /// IP address and port serving Prometheus metrics without a token (after a restart),
    /// e.g. 127.0.0.1:9464; empty: only on the admin API, behind its token.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^$|^(\d{1,3}(\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]):\d{1,5}$")]
    pub metrics_listen: Option<String>,
    /// How charges reach the ledger.
    #[cfg_attr(feature = "cli", arg(long, value_enum))]
    pub durability: Option<Durability>,
    /// Milliseconds between writes of usage to the ledger, 10-60000: of `batched` usage, the
    /// most a crash can lose (in the tenant's favour); of `strict`, its folds of the journal.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 10, maximum = 60_000)]
    pub usage_flush_ms: Option<i64>,
    /// Days denials and strict requests' charges are kept, 1-3650.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 1, maximum = 3650)]
    pub retention_days: Option<i64>,
    /// Milliseconds to wait for the upstream's response headers before a 504, 100-600000.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 100, maximum = 600_000)]
    pub upstream_timeout_ms: Option<i64>,
    /// Credits at or below which a tenant is flagged as running low (0 or more).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 0, maximum = 1e15)]
    pub low_balance_threshold: Option<i64>,
    /// Denials within a minute that bring a desktop notification, 0 (off) to 1000000.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 0, maximum = 1_000_000)]
    pub denial_spike_per_minute: Option<i64>,
    /// Closing the desktop window keeps the gateway running in the tray.
    #[cfg_attr(feature = "cli", arg(long))]
    pub close_to_tray: Option<bool>,
    /// The Stripe webhook endpoint's signing secret (`whsec_…`, from Stripe's dashboard);
    /// empty turns the endpoint off.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^$|^whsec_[!-~]{1,200}$")]
    pub stripe_webhook_secret: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed (the load balancer in front of the
    /// gateway): CIDR blocks or addresses, comma-separated, at most 256; empty clears.
    #[cfg_attr(feature = "cli", arg(long, value_delimiter = ',', value_name = "CIDRS"))]
    #[schema(max_items = 256)]
    pub trusted_proxies: Option<Vec<String>>,
    /// Replaces the price table of usage-metered routes: `model=PROMPT:COMPLETION` in
    /// credits per million tokens, repeated (`--model-price gpt-4o-mini=150:600`).
    #[cfg_attr(feature = "cli", arg(long = "model-price", value_name = "MODEL=PROMPT:COMPLETION", value_parser = model_price))]
    #[schema(max_items = 1000)]
    pub model_prices: Option<Vec<ModelPrice>>,
    /// Percent added to every usage price, 0–1000.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 0, maximum = 1000)]
    pub price_markup_percent: Option<i64>,
    /// x402: the CAIP-2 network, e.g. eip155:8453; empty turns x402 and Payment challenges off.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^$|^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$")]
    pub x402_network: Option<String>,
    /// x402: the token contract paid in (0x…).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^$|^0x[0-9a-fA-F]{40}$")]
    pub x402_asset: Option<String>,
    /// x402: the token's EIP-712 domain name (USDC on Base: "USD Coin").
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(min_length = 1, max_length = 64, pattern = r"^[ -~]+$")]
    pub x402_asset_name: Option<String>,
    /// x402: the token's EIP-712 domain version (USDC: "2").
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(min_length = 1, max_length = 64, pattern = r"^[ -~]+$")]
    pub x402_asset_version: Option<String>,
    /// x402: the address payments go to (0x…).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^$|^0x[0-9a-fA-F]{40}$")]
    pub x402_pay_to: Option<String>,
    /// x402: the facilitator's URL (it answers /verify and /settle).
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^$|^https?://[^\s/?#:][^\s]*$")]
    pub x402_facilitator_url: Option<String>,
    /// x402: credits one atomic unit of the asset buys, 1–1000000000.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub x402_credits_per_unit: Option<i64>,
    /// x402: the top-ups offered, in credits, comma-separated (at most 8).
    #[cfg_attr(feature = "cli", arg(long, value_delimiter = ','))]
    #[schema(max_items = 8)]
    pub x402_top_ups: Option<Vec<i64>>,
    /// x402: seconds a signed payment stays valid, 10–3600.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 10, maximum = 3600)]
    pub x402_max_timeout_seconds: Option<i64>,
    /// The secret binding Payment challenges (at least 32 characters); empty: random per process.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^$|^[!-~]{32,256}$")]
    pub payment_challenge_secret: Option<String>,
}

/// The CLI's `--model-price gpt-4o-mini=150:600`.
#[cfg(feature = "cli")]
fn model_price(s: &str) -> Result<ModelPrice, String> {
    let parsed = s.split_once('=').and_then(|(model, prices)| {
        let (prompt, completion) = prices.split_once(':')?;
        Some(ModelPrice {
            model: model.trim().to_string(),
            prompt_per_million: prompt.trim().parse().ok()?,
            completion_per_million: completion.trim().parse().ok()?,
        })
    });
    parsed.ok_or_else(|| {
        format!("{s:?} is not MODEL=PROMPT:COMPLETION (credits per million tokens, e.g. gpt-4o-mini=150:600)")
    })
}

/// `s` as the audit log keeps it: a signing secret is only said to be set, never written.
pub(crate) fn redacted(s: &Settings) -> Settings {
    let mut shown = s.clone();
    if !shown.stripe_webhook_secret.is_empty() {
        shown.stripe_webhook_secret = format!("whsec_… (set, {} characters)", s.stripe_webhook_secret.len());
    }
    if !shown.payment_challenge_secret.is_empty() {
        shown.payment_challenge_secret = format!("(set, {} characters)", s.payment_challenge_secret.len());
    }
    shown
}

/// Empty, or a Stripe signing secret: `whsec_` and visible characters.
fn signing_secret(field: &str, s: &str) -> Result<String, ConsoleError> {
    let s = s.trim();
    let ok = s.is_empty()
        || (s.starts_with("whsec_") && s.len() > 6 && s.len() <= 206 && s.bytes().all(|b| b.is_ascii_graphic()));
    if ok {
        Ok(s.to_string())
    } else {
        Err(ConsoleError::invalid(
            field,
            "must be the endpoint's signing secret from Stripe (whsec_…), or empty to turn it off",
        ))
    }
}

/// Empty, or the absolute path of a file that exists now (its contents are checked when
/// the gateway loads it, at start).
fn pem_file(field: &str, s: &str) -> Result<String, ConsoleError> {
    let path = std::path::Path::new(s.trim());
    if s.trim().is_empty() {
        return Ok(String::new());
    }
    if !path.is_absolute() {
        return Err(ConsoleError::invalid(field, format!("'{s}' is not an absolute path")));
    }
    if !path.is_file() {
        return Err(ConsoleError::invalid(field, format!("{} is not a file this process can see", path.display())));
    }
    Ok(path.display().to_string())
}

fn listen(field: &str, s: &str) -> Result<String, ConsoleError> {
    s.trim()
        .parse::<SocketAddr>()
        .map(|a| a.to_string())
        .map_err(|_| ConsoleError::invalid(field, format!("'{s}' is not an IP address and port, e.g. 127.0.0.1:8402")))
}

/// Stores setting `key` as `value`.
pub(crate) async fn put(conn: &mut Connection, key: &str, value: &serde_json::Value) -> sqlx::Result<()> {
    on!(conn, |c| sqlx::query(
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(sqlx::types::Json(value))
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(())
}
