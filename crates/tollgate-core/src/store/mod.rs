//! The SQLite database: one file, WAL, foreign keys on, migrations applied at open.
//!
//! Writes go through a pool of exactly one connection, so write transactions queue in
//! this process instead of failing with `SQLITE_BUSY`; reads use their own pool and see
//! the last committed state (WAL lets them run beside the writer).
//!
//! A write is `BEGIN IMMEDIATE … COMMIT` issued by [`Write`] itself, not sqlx's
//! transaction: when a statement or the commit fails (a full disk answers `SQLITE_FULL`,
//! and SQLite may roll the transaction back on its own), sqlx's own rollback then fails
//! and it goes on counting an open transaction, so every later "commit" only released a
//! savepoint and nothing was written again. A write that fails, or is dropped before it
//! commits, closes the writer connection instead (closing rolls back), and the pool opens
//! a fresh one: no transaction state survives an error.

pub mod accounts;
pub mod audit;
pub mod changes;
pub mod charges;
pub mod credits;
pub mod health;
pub mod import;
pub mod keys;
pub mod ledger;
pub mod overview;
pub mod payments;
pub mod plans;
pub mod request_log;
pub mod request_show;
pub mod routes;
pub mod settings;
pub mod subscriptions;
pub mod tenants;
pub mod traffic;
pub mod traffic_history;
pub mod verify;
pub mod webhooks;

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use chrono::Utc;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Executor, Sqlite, SqliteConnection, SqlitePool};

pub use crate::store::health::{Health, StorageStatus, is_storage_failure};

/// A connection of the database this store runs on: what the layers above hold when they
/// read inside a store transaction, so none of them names the backend.
pub type Connection = SqliteConnection;

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

/// The SQLite migrations in `migrations/sqlite/`, embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// The PostgreSQL migrations in `migrations/postgres/`: the same tables in PostgreSQL's
/// types, for nodes that share one database (the core's tests apply them to a real server
/// and check they match the SQLite schema).
pub static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// How a write must reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Survives a crash of this process (`synchronous=NORMAL` in WAL mode).
    Crash,
    /// Survives a power loss too (`synchronous=FULL`: the WAL is synced at each commit).
    PowerLoss,
}

/// What the writer connection's `synchronous` was last set to (0: unknown, a fresh connection).
const SYNC_UNKNOWN: u8 = 0;

/// Handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    read: SqlitePool,
    write: SqlitePool,
    health: Arc<Health>,
    /// The writer connection's `synchronous` mode (1 NORMAL, 2 FULL), so a write switches it
    /// only when it needs the other one.
    sync: Arc<AtomicU8>,
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
        // The one writer connection stays open while writes succeed, so the WAL and its
        // index persist and readers never find a half-closed database.
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
        Ok(Self { read, write, health: Arc::default(), sync: Arc::new(AtomicU8::new(SYNC_UNKNOWN)) })
    }

    /// The pool for queries that change nothing.
    pub fn read(&self) -> &SqlitePool {
        &self.read
    }

    /// Whether writes succeed.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// Starts a write transaction that survives a crash; waits its turn behind other
    /// writers of this process.
    pub async fn begin(&self) -> Result<Write, sqlx::Error> {
        self.begin_with(Durability::Crash).await
    }

    /// Starts a console write: durable on power loss, and probing storage when abandoned.
    pub async fn write(&self) -> Result<Write, sqlx::Error> {
        let mut write = self.begin_with(Durability::PowerLoss).await?;
        write.probe_on_drop = true;
        Ok(write)
    }

    /// Starts a write transaction with the given durability.
    pub async fn begin_with(&self, durability: Durability) -> Result<Write, sqlx::Error> {
        let conn = self.write.acquire().await.inspect_err(|e| {
            if is_storage_failure(e) {
                self.health.failed(e)
            }
        })?;
        let mut write = Write {
            conn: Some(conn),
            store: self.clone(),
            after_commit: Vec::new(),
            on_abandon: Vec::new(),
            probe_on_drop: false,
        };
        let wanted = match durability {
            Durability::Crash => 1,
            Durability::PowerLoss => 2,
        };
        if self.sync.load(Ordering::Acquire) != wanted {
            let pragma = if wanted == 2 { "PRAGMA synchronous = FULL" } else { "PRAGMA synchronous = NORMAL" };
            write.run(pragma).await?;
            self.sync.store(wanted, Ordering::Release);
        }
        write.run("BEGIN IMMEDIATE").await?;
        Ok(write)
    }

    /// Writes the probe row: succeeds only when storage accepts writes (and then clears
    /// a failing [`Health`]).
    pub async fn probe(&self) -> Result<(), sqlx::Error> {
        let mut write = self.begin().await?;
        let updated =
            sqlx::query("UPDATE storage_probe SET at = $1 WHERE id = 1").bind(Utc::now()).execute(&mut *write).await;
        write.check(updated)?;
        write.commit().await
    }

    /// The writer connection's `synchronous` level as SQLite reports it (1 NORMAL, 2 FULL):
    /// what the last write committed with.
    pub async fn writer_synchronous(&self) -> Result<i64, sqlx::Error> {
        let mut conn = self.write.acquire().await?;
        sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *conn).await
    }

    /// Closes both pools, checkpointing the WAL, so a clean stop leaves one tidy file.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// Run right after a commit (or, for [`Write::on_abandon`], when the write is dropped
/// uncommitted), with no await in between.
type Hook = Box<dyn FnOnce() + Send>;

/// A write transaction on the one writer connection. What the layers above must do once
/// it commits (memory following the database) or once it is abandoned (giving back what
/// they set aside for it) they register as hooks; the store only runs them.
///
/// Dropped before [`commit`](Write::commit) (an error, a cancelled task), it rolls back by
/// closing the connection, and runs its [`on_abandon`](Write::on_abandon) hooks.
pub struct Write {
    conn: Option<PoolConnection<Sqlite>>,
    store: Store,
    after_commit: Vec<Hook>,
    on_abandon: Vec<Hook>,
    /// Console writes probe storage when abandoned (see `Drop`); the writers that report
    /// their own failures do not.
    probe_on_drop: bool,
}

impl Write {
    /// Runs one statement of the write's own (BEGIN, COMMIT, PRAGMA), discarding the
    /// connection when it fails.
    async fn run(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        let conn = self.conn.as_mut().expect("used before commit");
        match conn.execute(sql).await {
            Ok(_) => Ok(()),
            Err(e) => {
                self.discard(&e);
                Err(e)
            }
        }
    }

    /// Throws the connection away (closing it rolls back whatever is open) and marks
    /// storage failing when the error was the storage's.
    fn discard(&mut self, e: &sqlx::Error) {
        if is_storage_failure(e) {
            self.store.health.failed(e);
        }
        if let Some(mut conn) = self.conn.take() {
            conn.close_on_drop();
        }
        self.store.sync.store(SYNC_UNKNOWN, Ordering::Release);
    }

    /// Passes a statement's result through; when storage failed, the connection is thrown
    /// away and [`Health`] marked failing (the write is then over: return the error).
    pub fn check<T>(&mut self, result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        if let Err(e) = &result
            && is_storage_failure(e)
        {
            self.discard(e);
        }
        result
    }

    /// Runs `apply` right after COMMIT succeeds, after the hooks registered before it,
    /// with no await in between: once the database has committed, nothing can stop memory
    /// from following.
    pub(crate) fn after_commit(&mut self, apply: impl FnOnce() + Send + 'static) {
        self.after_commit.push(Box::new(apply));
    }

    /// Runs `undo` when the write ends without committing (an error, a cancelled task).
    pub(crate) fn on_abandon(&mut self, undo: impl FnOnce() + Send + 'static) {
        self.on_abandon.push(Box::new(undo));
    }

    /// Commits, then runs the `after_commit` hooks in order before the connection serves
    /// the next write, so memory follows commits in order. An error means nothing was
    /// committed (the `on_abandon` hooks then run as the write is dropped).
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        self.run("COMMIT").await?;
        let conn = self.conn.take();
        self.store.health.succeeded();
        self.on_abandon.clear();
        for apply in self.after_commit.drain(..) {
            apply();
        }
        drop(conn); // back to the pool, ready for the next write
        Ok(())
    }
}

impl Drop for Write {
    /// A write that never committed rolls back (its connection is closed, not reused) and
    /// runs its `on_abandon` hooks.
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            conn.close_on_drop();
            self.store.sync.store(SYNC_UNKNOWN, Ordering::Release);
            // Most abandoned writes are a refused input (an unknown tenant); some are a
            // statement the disk refused. One probe write tells which, so a failing disk is
            // reported even when only console commands run into it.
            if let (true, Ok(runtime)) = (self.probe_on_drop, tokio::runtime::Handle::try_current()) {
                let store = self.store.clone();
                runtime.spawn(async move {
                    let _ = store.probe().await;
                });
            }
        }
        for undo in self.on_abandon.drain(..) {
            undo();
        }
    }
}

impl Deref for Write {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        self.conn.as_ref().expect("used after a failed statement of its own")
    }
}

impl DerefMut for Write {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn.as_mut().expect("used after a failed statement of its own")
    }
}
