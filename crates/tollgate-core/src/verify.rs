//! `verify`: proof that no credit went missing, for every tenant, and, where a gateway
//! runs, that its memory agrees with the database.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::command::{Command, Ctx};
use crate::live::reconcile::reconcile;
use crate::{Console, ConsoleError};

/// A tenant whose stored balance disagrees with its ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Mismatch {
    pub tenant: String,
    /// `tenants.balance`.
    pub balance: i64,
    /// The sum of the tenant's ledger amounts.
    pub ledger_sum: i64,
    /// `balance_after` of the tenant's newest entry (0 without entries).
    pub last_balance_after: i64,
}

/// The outcome of `verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VerifyReport {
    /// True when every tenant's balance equals the sum of its ledger and the gateway's
    /// memory had not drifted from the database.
    pub ok: bool,
    pub tenants_checked: i64,
    pub entries_checked: i64,
    pub mismatches: Vec<Mismatch>,
    /// Things in the gateway's memory (keys, tenants, plans, routes, settings) this check
    /// found different from the database, and repaired; should be 0. Absent when no
    /// gateway runs in this process, or console writes kept it from comparing.
    pub drift: Option<u64>,
}

/// `verify`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct Verify {}

impl Command for Verify {
    const NAME: &'static str = "verify";
    const SUMMARY: &'static str =
        "Check every balance against its ledger, and the gateway's memory against the database";
    type Output = VerifyReport;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<VerifyReport, ConsoleError> {
        // One read transaction, so the balances and the ledger are seen at the same instant.
        let mut tx = console.store().read().begin().await?;
        let rows: Vec<Mismatch> = sqlx::query_as(
            "SELECT t.slug AS tenant, t.balance,
                    COALESCE((SELECT SUM(amount) FROM ledger l WHERE l.tenant_id = t.id), 0) AS ledger_sum,
                    COALESCE((SELECT balance_after FROM ledger l WHERE l.tenant_id = t.id ORDER BY id DESC LIMIT 1), 0)
                        AS last_balance_after
             FROM tenants t ORDER BY t.slug",
        )
        .fetch_all(&mut *tx)
        .await?;
        let entries_checked: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ledger").fetch_one(&mut *tx).await?;
        tx.commit().await?;
        let tenants_checked = rows.len() as i64;
        let mismatches: Vec<Mismatch> =
            rows.into_iter().filter(|m| m.balance != m.ledger_sum || m.balance != m.last_balance_after).collect();
        let drift = match console.live() {
            Some(live) => reconcile(live, console.store()).await?,
            None => None,
        };
        let ok = mismatches.is_empty() && drift.unwrap_or(0) == 0;
        Ok(VerifyReport { ok, tenants_checked, entries_checked, mismatches, drift })
    }
}
