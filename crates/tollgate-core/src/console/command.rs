//! Console commands are declared once here; every adapter is generated from this list.
//!
//! A [`Command`] is a serde input type whose `run` does the work. [`visit_all`] walks every
//! command generically, so the admin HTTP API, the CLI and the desktop IPC adapter cannot
//! lack one: they are built by walking the list, not by hand.

use std::future::Future;

use serde::{Serialize, de::DeserializeOwned};
use utoipa::ToSchema;

pub use crate::domain::ctx::Ctx;
use crate::{Console, ConsoleError};

#[cfg(feature = "cli")]
/// With the `cli` feature every command input is also a set of command-line flags.
pub trait CliArgs: clap::Args + clap::FromArgMatches {}
#[cfg(feature = "cli")]
impl<T: clap::Args + clap::FromArgMatches> CliArgs for T {}
#[cfg(not(feature = "cli"))]
/// Without the `cli` feature this bound is empty.
pub trait CliArgs {}
#[cfg(not(feature = "cli"))]
impl<T> CliArgs for T {}

/// One console command: its input is `Self`, its output `Self::Output`.
pub trait Command: DeserializeOwned + Serialize + ToSchema + CliArgs + Send + 'static {
    /// Dotted name, `group.verb` (or a single word); also the HTTP path and the CLI words.
    const NAME: &'static str;
    /// One line for `--help` and the OpenAPI summary.
    const SUMMARY: &'static str;
    /// What the command returns on success.
    type Output: Serialize + DeserializeOwned + ToSchema + Send + 'static;
    /// The largest input, as JSON bytes, an adapter accepts for it (2 MiB unless it
    /// carries files, as `tenant.import` does).
    const MAX_INPUT_BYTES: usize = 2 << 20;
    /// Validate, apply in one transaction, record in the audit log, publish the event.
    fn run(self, console: &Console, ctx: &Ctx) -> impl Future<Output = Result<Self::Output, ConsoleError>> + Send;
}

/// Something built from every command at once (a router, a CLI tree, an OpenAPI document).
pub trait CommandVisitor {
    /// Called once per command, in declaration order.
    fn visit<C: Command>(&mut self);
}

macro_rules! console_commands {
    ($($ty:ty),* $(,)?) => {
        /// Calls `visitor.visit::<C>()` for every console command.
        pub fn visit_all<V: CommandVisitor>(visitor: &mut V) {
            $( visitor.visit::<$ty>(); )*
        }

        /// Every command's name, in declaration order.
        pub const COMMAND_NAMES: &[&str] = &[$( <$ty as Command>::NAME ),*];

        /// Runs the command called `name` on a JSON input and returns its JSON output:
        /// the transport-neutral entry point for CLI-to-server calls and generic adapters.
        pub async fn dispatch_json(
            console: &Console,
            ctx: &Ctx,
            name: &str,
            input: serde_json::Value,
        ) -> Result<serde_json::Value, ConsoleError> {
            $(
                if name == <$ty as Command>::NAME {
                    let input: $ty = parse_input(input)?;
                    let output = input.run(console, ctx).await?;
                    return Ok(serde_json::to_value(output).expect("command outputs serialize"));
                }
            )*
            Err(ConsoleError::UnknownCommand(name.to_string()))
        }
    };
}

/// Runs `input` as a task of its own and waits for it. A caller that stops waiting (an
/// HTTP client that hung up, a reloaded window) then no longer stops the command half-way:
/// it runs to the end, so what it commits always reaches the gateway's memory too.
pub async fn run_detached<C: Command>(console: &Console, ctx: Ctx, input: C) -> Result<C::Output, ConsoleError> {
    let console = console.clone();
    joined(tokio::spawn(async move { input.run(&console, &ctx).await })).await
}

/// [`dispatch_json`] as a task of its own, for the same reason as [`run_detached`].
pub async fn dispatch_detached(
    console: &Console,
    ctx: Ctx,
    name: String,
    input: serde_json::Value,
) -> Result<serde_json::Value, ConsoleError> {
    let console = console.clone();
    joined(tokio::spawn(async move { dispatch_json(&console, &ctx, &name, input).await })).await
}

/// The result of a task that runs part of a command; its panic goes on in the caller.
pub(crate) async fn joined<T, E: Into<ConsoleError>>(
    task: tokio::task::JoinHandle<Result<T, E>>,
) -> Result<T, ConsoleError> {
    match task.await {
        Ok(result) => result.map_err(Into::into),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(ConsoleError::Store(sqlx::Error::Protocol("the command's task was cancelled".into()))),
    }
}

/// Decodes a command input, naming the offending field on failure.
pub fn parse_input<C: DeserializeOwned>(input: serde_json::Value) -> Result<C, ConsoleError> {
    serde_path_to_error::deserialize(input).map_err(field_error)
}

/// Decodes a command input from raw JSON bytes (an HTTP body; empty means `{}`).
pub fn parse_input_bytes<C: DeserializeOwned>(bytes: &[u8]) -> Result<C, ConsoleError> {
    let mut de = serde_json::Deserializer::from_slice(if bytes.is_empty() { b"{}" } else { bytes });
    serde_path_to_error::deserialize(&mut de).map_err(field_error)
}

/// An input error on the field the decoder stopped at (`body` for the whole input).
fn field_error(e: serde_path_to_error::Error<serde_json::Error>) -> ConsoleError {
    let path = e.path().to_string();
    let field = if path == "." { "body".to_string() } else { path };
    ConsoleError::invalid(field, e.into_inner().to_string())
}

use crate::{
    console::explain, console::verify, store::audit, store::changes, store::charges, store::credits, store::health,
    store::import, store::keys, store::ledger, store::overview, store::payments, store::plans, store::request_show,
    store::routes, store::settings, store::subscriptions, store::tenants, store::traffic, store::traffic_history,
    store::webhooks,
};

console_commands! {
    plans::PlanCreate,
    plans::PlanUpdate,
    plans::PlanArchive,
    plans::PlanList,
    tenants::TenantCreate,
    tenants::TenantUpdate,
    tenants::TenantSuspend,
    tenants::TenantResume,
    tenants::TenantBlock,
    tenants::TenantList,
    tenants::TenantShow,
    import::TenantImport,
    subscriptions::ChangePlan,
    subscriptions::SetStatus,
    subscriptions::Renew,
    keys::KeyIssue,
    keys::KeyRevoke,
    keys::KeyRotate,
    keys::KeyBudgetSet,
    keys::KeyList,
    credits::TopUp,
    credits::Adjust,
    credits::Refund,
    routes::RouteCreate,
    routes::RouteUpdate,
    routes::RouteDelete,
    routes::RouteList,
    ledger::LedgerList,
    charges::ChargeShow,
    audit::AuditList,
    settings::SettingsGet,
    settings::SettingsSet,
    verify::Verify,
    health::StorageShow,
    changes::ClusterNodes,
    traffic::DenialList,
    traffic::DenialCounts,
    traffic::UsageList,
    traffic::TrafficStatusShow,
    traffic_history::TrafficHistoryShow,
    request_show::RequestShow,
    explain::Explain,
    overview::OverviewShow,
    payments::PaymentEventList,
    webhooks::WebhookCreate,
    webhooks::WebhookList,
    webhooks::WebhookDelete,
    webhooks::WebhookDeliveries,
    webhooks::WebhookResend,
}
