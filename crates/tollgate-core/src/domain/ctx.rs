//! Who runs a command and when: the context every rule about time and authorship takes.

use chrono::{DateTime, Utc};

/// Who runs a command and when; `now` is passed in so every rule about time is testable.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Recorded in the audit log and the ledger, e.g. `cli:alice`, `admin-api`, `console`.
    pub actor: String,
    /// The instant the command is taken to happen at.
    pub now: DateTime<Utc>,
}

impl Ctx {
    /// A context for `actor` at the current wall-clock time, to the whole second: what
    /// the command stores (period ends, grace windows, audit times) is shown to people,
    /// and nobody reads nanoseconds.
    pub fn now(actor: impl Into<String>) -> Self {
        use chrono::SubsecRound;
        Self { actor: actor.into(), now: Utc::now().trunc_subsecs(0) }
    }
}
