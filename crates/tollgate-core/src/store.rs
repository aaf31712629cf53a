//! The SQLite database: one file, WAL, foreign keys on, migrations applied at open.
//!
//! Writes go through a pool of exactly one connection, so write transactions queue in
//! this process instead of failing with `SQLITE_BUSY`; reads use their own pool and see
//! the last committed state (WAL lets them run beside the writer).

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};

use crate::live::Live;

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The file could not be opened or created.
    #[error("cannot open database {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    /// The schema could not be brought up to date.
    #[error("cannot migrate database {path}: {source}")]
    Migrate { path: String, source: sqlx::migrate::MigrateError },
}

/// The migrations in `migrations/`, embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    read: SqlitePool,
    write: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self, OpenError> {
        let shown = path.display().to_string();
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let open_err = |source| OpenError::Open { path: shown.clone(), source };
        // The one writer connection stays open for the life of the store, so the WAL and
        // its index persist and readers never find a half-closed database.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options.clone())
            .await
            .map_err(open_err)?;
        MIGRATOR.run(&write).await.map_err(|source| OpenError::Migrate { path: shown.clone(), source })?;
        let read = SqlitePoolOptions::new().max_connections(4).connect_with(options).await.map_err(open_err)?;
        Ok(Self { read, write })
    }

    /// The pool for queries that change nothing.
    pub fn read(&self) -> &SqlitePool {
        &self.read
    }

    /// Starts a write transaction; waits its turn behind other writers of this process.
    pub async fn begin(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.write.begin().await
    }

    /// Starts a write whose credit movements reach `live` when (and only when) it commits.
    pub async fn write(&self, live: Option<Arc<Live>>) -> Result<Write, sqlx::Error> {
        Ok(Write { tx: Some(self.write.begin().await?), live, effects: Vec::new(), after_commit: Vec::new() })
    }

    /// Closes both pools, checkpointing the WAL, so a clean stop leaves one tidy file.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// What a committed write does to the in-memory balances.
#[derive(Debug, Clone, Copy)]
enum Effect {
    /// Credits were added: the available balance grows.
    Credit { tenant_id: i64, amount: i64 },
    /// Credits were taken; they were set aside when posted, so the hold is simply spent.
    SpendHeld { tenant_id: i64, amount: i64 },
}

/// A console write transaction that keeps the in-memory balances in step with the ledger:
/// credits appear in memory after commit, and removals are held in memory before it, so
/// a concurrent gateway request can never spend credits the ledger is about to remove.
pub struct Write {
    tx: Option<Transaction<'static, Sqlite>>,
    live: Option<Arc<Live>>,
    effects: Vec<Effect>,
    after_commit: Vec<AfterCommit>,
}

/// A change to the live state, read before COMMIT and applied right after it.
type AfterCommit = Box<dyn FnOnce(&Live) + Send>;

impl Write {
    /// Records that `amount` credits (positive) will be added to `tenant_id` on commit.
    pub(crate) fn credit(&mut self, tenant_id: i64, amount: i64) {
        self.effects.push(Effect::Credit { tenant_id, amount });
    }

    /// Holds `amount` credits (positive) of `tenant_id` in memory for a removal; fails
    /// when fewer are available there (the gateway may have reserved or spent some).
    pub(crate) fn hold(&mut self, tenant_id: i64, amount: i64) -> Result<(), crate::ConsoleError> {
        if let Some(live) = &self.live {
            live.hold(tenant_id, amount)?;
        }
        self.effects.push(Effect::SpendHeld { tenant_id, amount });
        Ok(())
    }

    /// Runs `apply` on the live state right after COMMIT succeeds, after the credit
    /// movements and the closures registered before it, with no await in between: once
    /// the database has committed, nothing can stop memory from following.
    pub(crate) fn after_commit(&mut self, apply: impl FnOnce(&Live) + Send + 'static) {
        self.after_commit.push(Box::new(apply));
    }

    /// Commits, then applies the credit movements and the `after_commit` closures to memory.
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        self.tx.take().expect("a write commits once").commit().await?;
        if let Some(live) = &self.live {
            for effect in self.effects.drain(..) {
                match effect {
                    Effect::Credit { tenant_id, amount } => live.credit(tenant_id, amount),
                    Effect::SpendHeld { tenant_id, amount } => live.spend_held(tenant_id, amount),
                }
            }
            for apply in self.after_commit.drain(..) {
                apply(live);
            }
        }
        Ok(())
    }
}

impl Drop for Write {
    /// A write that never committed gives back what it held.
    fn drop(&mut self) {
        if let Some(live) = &self.live {
            for effect in &self.effects {
                if let Effect::SpendHeld { tenant_id, amount } = *effect {
                    live.release_held(tenant_id, amount);
                }
            }
        }
    }
}

impl Deref for Write {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        self.tx.as_ref().expect("used before commit")
    }
}

impl DerefMut for Write {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.tx.as_mut().expect("used before commit")
    }
}
