//! The SQLite database: one file, WAL, foreign keys on, migrations applied at open.
//!
//! Writes go through a pool of exactly one connection, so write transactions queue in
//! this process instead of failing with `SQLITE_BUSY`; reads use their own pool and see
//! the last committed state (WAL lets them run beside the writer).

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

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

    /// Closes both pools, checkpointing the WAL, so a clean stop leaves one tidy file.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}
