//! The one error type every console command returns.
//!
//! Each variant maps to a stable machine `code` and a human message, so every adapter
//! (HTTP, Tauri IPC, CLI) shows the same `{code, message}` and never a database message.

use serde::Serialize;
use utoipa::ToSchema;

/// Why a console command did not happen. Nothing was changed when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The input is malformed; `field` names the offending input field.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// A referenced thing (tenant, plan, key, route) does not exist.
    #[error("{what} '{id}' not found")]
    NotFound { what: &'static str, id: String },
    /// The input is well-formed but clashes with what is stored (duplicate slug, reused key).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// A debit or negative adjustment would take the balance below zero.
    #[error("insufficient credits: balance {balance}, needed {needed}")]
    InsufficientCredits { balance: i64, needed: i64 },
    /// The command name is not one Tollgate knows.
    #[error("unknown console command '{0}'")]
    UnknownCommand(String),
    /// The database refuses writes (disk full, I/O error): nothing was changed.
    #[error("storage is failing ({0}): nothing was changed; try again once it is back")]
    StorageUnavailable(#[source] sqlx::Error),
    /// Storage failed; the detail is logged by the edge, never shown to a client.
    #[error("internal storage error")]
    Store(#[source] sqlx::Error),
}

impl ConsoleError {
    /// Shorthand for an input error on `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid { field: field.into(), message: message.into() }
    }

    /// Shorthand for a missing thing.
    pub fn not_found(what: &'static str, id: impl std::fmt::Display) -> Self {
        Self::NotFound { what, id: id.to_string() }
    }

    /// The stable machine-readable code clients branch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "INVALID_INPUT",
            Self::NotFound { .. } => "NOT_FOUND",
            Self::Conflict { code, .. } => code,
            Self::InsufficientCredits { .. } => "INSUFFICIENT_CREDITS",
            Self::UnknownCommand(_) => "UNKNOWN_COMMAND",
            Self::StorageUnavailable(_) => "STORAGE_UNAVAILABLE",
            Self::Store(_) => "INTERNAL",
        }
    }

    /// The error as it crosses IPC and HTTP.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code().to_string(),
            message: self.to_string(),
            field: match self {
                Self::Invalid { field, .. } => Some(field.clone()),
                _ => None,
            },
        }
    }
}

impl From<sqlx::Error> for ConsoleError {
    fn from(e: sqlx::Error) -> Self {
        if is_storage_failure(&e) && !matches!(e, sqlx::Error::Protocol(_)) {
            Self::StorageUnavailable(e)
        } else {
            Self::Store(e)
        }
    }
}

/// `{code, message, field?}`: the wire shape of a [`ConsoleError`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine code, e.g. `INVALID_INPUT`, `NOT_FOUND`, `SLUG_TAKEN`.
    pub code: String,
    /// Human message naming the problem.
    pub message: String,
    /// The input field at fault, for input errors.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub field: Option<String>,
}

/// True when `e` is a UNIQUE constraint failure, so callers can answer a precise conflict.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// True when `e` says the storage itself failed, not that the data broke a rule (a
/// constraint) or a row was missing: the kind of error that marks [`Health`] failing.
pub fn is_storage_failure(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => !matches!(
            d.kind(),
            sqlx::error::ErrorKind::UniqueViolation
                | sqlx::error::ErrorKind::ForeignKeyViolation
                | sqlx::error::ErrorKind::NotNullViolation
                | sqlx::error::ErrorKind::CheckViolation
        ),
        // A closed pool is this process shutting down (the CLI after its command, while a
        // probe of an abandoned write still runs), not a disk refusing writes.
        sqlx::Error::PoolClosed
        | sqlx::Error::RowNotFound
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::TypeNotFound { .. } => false,
        _ => true,
    }
}
