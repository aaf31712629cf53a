//! `verify`: proof that no credit went missing, for every tenant, and, where a gateway
//! runs, that its memory agrees with the database.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::console::command::{Command, Ctx};
use crate::live::reconcile::reconcile;
use crate::store::verify;
pub use crate::store::verify::{Mismatch, PeriodCountMismatch, RefusedDebit};
use crate::{Console, ConsoleError};

/// The outcome of `verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VerifyReport {
    /// True when every tenant's balance equals the sum of its ledger, so does its period's
    /// request count, the ledger refused no debit, and the gateway's memory had not
    /// drifted from the database.
    pub ok: bool,
    pub tenants_checked: i64,
    pub entries_checked: i64,
    pub mismatches: Vec<Mismatch>,
    /// Tenants whose stored period count disagrees with their ledger.
    pub period_count_mismatches: Vec<PeriodCountMismatch>,
    /// Debits of served requests the ledger refused (newest first, at most 100).
    pub refused_debits: Vec<RefusedDebit>,
    /// Strict usage committed durably to the journal and not yet in the ledger (it is not
    /// in the balances either): a running gateway folds it within one usage flush interval,
    /// and `serve` folds what a crash left before it loads balances.
    pub unfolded_strict_requests: i64,
    pub unfolded_strict_credits: i64,
    /// Nodes' credit leases whose recorded use differs from their debits (PostgreSQL, where
    /// nodes share the database; always empty on SQLite).
    pub leases_off: Vec<i64>,
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
        "Check every balance against its ledger, refused debits, and the gateway's memory against the database";
    type Output = VerifyReport;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<VerifyReport, ConsoleError> {
        let ledger = verify::ledger(console.store()).await?;
        let drift = match console.live() {
            Some(live) => reconcile(live, console.store()).await?,
            None => None,
        };
        let ok = ledger.mismatches.is_empty()
            && ledger.period_count_mismatches.is_empty()
            && ledger.refused_debits.is_empty()
            && ledger.leases_off.is_empty()
            && drift.unwrap_or(0) == 0;
        Ok(VerifyReport {
            ok,
            tenants_checked: ledger.tenants_checked,
            entries_checked: ledger.entries_checked,
            mismatches: ledger.mismatches,
            period_count_mismatches: ledger.period_count_mismatches,
            refused_debits: ledger.refused_debits,
            unfolded_strict_requests: ledger.journal.0,
            unfolded_strict_credits: ledger.journal.1,
            leases_off: ledger.leases_off,
            drift,
        })
    }
}
