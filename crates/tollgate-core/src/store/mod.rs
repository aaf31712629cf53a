//! The database: SQLite (one file, WAL, foreign keys on) by default, or a PostgreSQL
//! server that several nodes share; migrations applied at open.
//!
//! Writes go through a pool of exactly one connection, so this process's write
//! transactions queue (instead of failing with `SQLITE_BUSY`) and commit in order, which
//! the memory that follows commits relies on; reads use their own pool and see the last
//! committed state.
//!
//! Every statement is written once and compiled for each engine by [`on!`]: the SQL both
//! engines read (`$1` parameters, `RETURNING`, `ON CONFLICT`, `TRUE`/`FALSE`) is one text,
//! and the few spots where the dialects part ([`Engine::pick`]) carry both.
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
pub mod node_events;
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
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Executor, PgPool, Postgres, Sqlite, SqlitePool};

pub use crate::store::health::{Health, StorageStatus, is_storage_failure};

/// A connection of the database this store runs on: what the layers above hold when they
/// read inside a store transaction, so none of them names the engine.
pub enum Connection {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// The statement text for this engine, where the dialects part.
    pub fn pick(self, sqlite: &'static str, postgres: &'static str) -> &'static str {
        match self {
            Self::Sqlite => sqlite,
            Self::Postgres => postgres,
        }
    }
}

impl Connection {
    /// The engine this connection speaks to.
    pub fn engine(&self) -> Engine {
        match self {
            Self::Sqlite(_) => Engine::Sqlite,
            Self::Postgres(_) => Engine::Postgres,
        }
    }

    /// Closes the connection instead of returning it to its pool (closing rolls back
    /// whatever transaction is open on it).
    fn close_on_drop(&mut self) {
        match self {
            Self::Sqlite(c) => c.close_on_drop(),
            Self::Postgres(c) => c.close_on_drop(),
        }
    }
}

/// Runs `$body` with `$c` bound to the engine's own connection (`&mut SqliteConnection` or
/// `&mut PgConnection`): the body is written once and type-checked for each engine, so a
/// statement's binds and row types must suit both.
#[macro_export]
macro_rules! on {
    ($conn:expr, |$c:ident| $body:expr) => {{
        let on_conn: &mut $crate::store::Connection = &mut *$conn;
        match on_conn {
            $crate::store::Connection::Sqlite(pooled) => {
                let $c: &mut ::sqlx::SqliteConnection = &mut *pooled;
                $body
            }
            $crate::store::Connection::Postgres(pooled) => {
                let $c: &mut ::sqlx::PgConnection = &mut *pooled;
                $body
            }
        }
    }};
}
pub use on;

/// One statement in both dialects, for the spots where they part: plain literals are
/// shared, and each `{sqlite, postgres}` pair gives the two texts of one spot (SQLite's
/// times are text, compared through `julianday`; PostgreSQL's are `timestamptz`).
/// Evaluates to the engine's text, `&'static str`.
macro_rules! dialects {
    ($engine:expr, $($piece:tt)+) => {
        $engine.pick(concat!($($crate::store::dialects!(@sqlite $piece)),+), concat!($($crate::store::dialects!(@postgres $piece)),+))
    };
    (@sqlite { $sqlite:literal, $postgres:literal }) => { $sqlite };
    (@sqlite $shared:literal) => { $shared };
    (@postgres { $sqlite:literal, $postgres:literal }) => { $postgres };
    (@postgres $shared:literal) => { $shared };
}
pub(crate) use dialects;

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

/// The pools of one engine: `write` has exactly one connection.
#[derive(Clone, Debug)]
enum Pools {
    Sqlite { read: SqlitePool, write: SqlitePool },
    Postgres { read: PgPool, write: PgPool },
}

/// Handle to the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pools: Pools,
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
            // sqlx pings a pooled connection as it is taken: a round trip to SQLite's
            // thread for a connection in this process that cannot have gone away. Strict
            // group commits take it many times a second (measured: 1.04x strict without it,
            // median of five same-run repetitions).
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .map_err(open_err)?;
        MIGRATOR.run(&write).await.map_err(|source| OpenError::Migrate { path: shown.clone(), source })?;
        let read = SqlitePoolOptions::new().max_connections(4).connect_with(options).await.map_err(open_err)?;
        Ok(Self::with(Pools::Sqlite { read, write }))
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://…`) and applies pending
    /// migrations. Several nodes may open the same database.
    pub async fn connect(url: &str) -> Result<Self, OpenError> {
        let shown = redact(url);
        let open_err = |source| OpenError::Open { path: shown.clone(), source };
        let options: PgConnectOptions = url.parse().map_err(open_err)?;
        let pool = |n| PgPoolOptions::new().max_connections(n).acquire_timeout(Duration::from_secs(60));
        let write = pool(1).connect_with(options.clone()).await.map_err(open_err)?;
        POSTGRES_MIGRATOR.run(&write).await.map_err(|source| OpenError::Migrate { path: shown.clone(), source })?;
        let read = pool(4).connect_with(options).await.map_err(open_err)?;
        Ok(Self::with(Pools::Postgres { read, write }))
    }

    fn with(pools: Pools) -> Self {
        Self { pools, health: Arc::default(), sync: Arc::new(AtomicU8::new(SYNC_UNKNOWN)) }
    }

    /// The engine this store runs on.
    pub fn engine(&self) -> Engine {
        match self.pools {
            Pools::Sqlite { .. } => Engine::Sqlite,
            Pools::Postgres { .. } => Engine::Postgres,
        }
    }

    /// The PostgreSQL pool, when the store runs on PostgreSQL (leases and the change feed
    /// use it directly).
    pub fn postgres(&self) -> Option<&PgPool> {
        match &self.pools {
            Pools::Postgres { read, .. } => Some(read),
            Pools::Sqlite { .. } => None,
        }
    }

    /// A connection for queries that change nothing; it sees the last committed state.
    pub async fn reader(&self) -> Result<Connection, sqlx::Error> {
        Ok(match &self.pools {
            Pools::Sqlite { read, .. } => Connection::Sqlite(read.acquire().await?),
            Pools::Postgres { read, .. } => Connection::Postgres(read.acquire().await?),
        })
    }

    /// A read-only transaction: every query in it sees the same committed state.
    pub async fn snapshot(&self) -> Result<Snapshot, sqlx::Error> {
        let mut conn = self.reader().await?;
        let begin = conn.engine().pick("BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
        on!(&mut conn, |c| c.execute(begin).await.map(drop))?;
        Ok(Snapshot { conn: Some(conn) })
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
        let acquired = match &self.pools {
            Pools::Sqlite { write, .. } => write.acquire().await.map(Connection::Sqlite),
            Pools::Postgres { write, .. } => write.acquire().await.map(Connection::Postgres),
        };
        let conn = acquired.inspect_err(|e| {
            if is_storage_failure(e) {
                self.health.failed(e)
            }
        })?;
        let engine = conn.engine();
        let mut write = Write {
            conn: Some(conn),
            store: self.clone(),
            after_commit: Vec::new(),
            on_abandon: Vec::new(),
            probe_on_drop: false,
        };
        if let (Engine::Sqlite, (wanted, Some(pragma))) = (engine, self.synchronous(durability)) {
            write.run(pragma).await?;
            self.sync.store(wanted, Ordering::Release);
        }
        // PostgreSQL commits durably (`synchronous_commit` is the server's to set).
        write.run(engine.pick("BEGIN IMMEDIATE", "BEGIN")).await?;
        Ok(write)
    }

    /// The writer connection's `synchronous` level `durability` needs (SQLite: 1 NORMAL,
    /// 2 FULL), and the statement that sets it unless the connection is known to have it.
    fn synchronous(&self, durability: Durability) -> (u8, Option<&'static str>) {
        match (durability, self.sync.load(Ordering::Acquire)) {
            (Durability::Crash, 1) => (1, None),
            (Durability::PowerLoss, 2) => (2, None),
            (Durability::Crash, _) => (1, Some("PRAGMA synchronous = NORMAL")),
            (Durability::PowerLoss, _) => (2, Some("PRAGMA synchronous = FULL")),
        }
    }

    /// A whole SQLite write sent to SQLite's thread at once: `BEGIN IMMEDIATE`, the
    /// statement `build` appends, `COMMIT`, in one round trip where [`begin_with`] costs
    /// one per statement. For a small write that runs many times a second and waits for
    /// its fsync (the strict journal): on a busy machine each round trip is a wait for a
    /// CPU. `committed` gets the statement's rows right after the commit, before the
    /// connection serves another write (as [`Write::after_commit`] hooks do); on an error
    /// nothing was committed. `None` on PostgreSQL, which has no such thread.
    ///
    /// [`begin_with`]: Store::begin_with
    pub(crate) async fn write_at_once<T>(
        &self,
        durability: Durability,
        build: impl FnOnce(&mut sqlx::QueryBuilder<Sqlite>),
        committed: impl FnOnce(Vec<sqlx::sqlite::SqliteRow>) -> T,
    ) -> Option<Result<T, sqlx::Error>> {
        let Pools::Sqlite { write, .. } = &self.pools else { return None };
        let mut conn = match write.acquire().await {
            Ok(conn) => Unfinished(Some(conn), &self.sync),
            Err(e) => {
                if is_storage_failure(&e) {
                    self.health.failed(&e);
                }
                return Some(Err(e));
            }
        };
        let (wanted, pragma) = self.synchronous(durability);
        let mut sql = sqlx::QueryBuilder::new(pragma.map_or(String::new(), |p| format!("{p}; ")));
        sql.push("BEGIN IMMEDIATE; ");
        build(&mut sql);
        sql.push("; COMMIT");
        let ran = sql.build().fetch_all(&mut **conn.0.as_mut().expect("held until done")).await;
        match ran {
            Ok(rows) => {
                self.sync.store(wanted, Ordering::Release);
                self.health.succeeded();
                let answer = committed(rows);
                drop(conn.0.take()); // back to the pool, after `committed` ran
                Some(Ok(answer))
            }
            Err(e) => {
                // Whatever ran is rolled back as the connection closes (`Unfinished`).
                if is_storage_failure(&e) {
                    self.health.failed(&e);
                }
                Some(Err(e))
            }
        }
    }

    /// Writes the probe row: succeeds only when storage accepts writes (and then clears
    /// a failing [`Health`]).
    pub async fn probe(&self) -> Result<(), sqlx::Error> {
        let mut write = self.begin().await?;
        let now = Utc::now();
        let updated = on!(&mut *write, |c| sqlx::query("UPDATE storage_probe SET at = $1 WHERE id = 1")
            .bind(now)
            .execute(c)
            .await
            .map(|done| done.rows_affected()));
        write.check(updated)?;
        write.commit().await
    }

    /// The writer connection's `synchronous` level as SQLite reports it (1 NORMAL, 2 FULL):
    /// what the last write committed with.
    /// On PostgreSQL, which commits durably, 2.
    pub async fn writer_synchronous(&self) -> Result<i64, sqlx::Error> {
        match &self.pools {
            Pools::Sqlite { write, .. } => {
                sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *write.acquire().await?).await
            }
            Pools::Postgres { .. } => Ok(2),
        }
    }

    /// Closes both pools (on SQLite checkpointing the WAL, so a clean stop leaves one
    /// tidy file).
    pub async fn close(&self) {
        match &self.pools {
            Pools::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Pools::Postgres { read, write } => {
                read.close().await;
                write.close().await;
            }
        }
    }
}

/// `url` without its password, for messages.
pub fn redact(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let Some(at) = url[start..].find('@').map(|i| start + i) else { return url.to_owned() };
    match url[start..at].find(':') {
        Some(colon) => format!("{}:***{}", &url[..start + colon], &url[at..]),
        None => url.to_owned(),
    }
}

/// The connection of a [`Store::write_at_once`] until its script completed: dropped before
/// then (an error, a cancelled task), it is closed, which rolls back whatever ran, rather
/// than returned to the pool inside an open transaction.
/// The store's `synchronous` level is unknown afterwards (the next connection is new).
struct Unfinished<'a>(Option<PoolConnection<Sqlite>>, &'a AtomicU8);

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.0.as_mut() {
            conn.close_on_drop();
            self.1.store(SYNC_UNKNOWN, Ordering::Release);
        }
    }
}

/// A read-only transaction on a reader connection (see [`Store::snapshot`]); dropped, it
/// closes its connection, which ends the transaction.
pub struct Snapshot {
    conn: Option<Connection>,
}

impl Snapshot {
    /// Ends the transaction and returns the connection to its pool.
    pub async fn finish(mut self) -> Result<(), sqlx::Error> {
        let mut conn = self.conn.take().expect("finished once");
        on!(&mut conn, |c| c.execute("ROLLBACK").await.map(drop))
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            conn.close_on_drop();
        }
    }
}

impl Deref for Snapshot {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("not finished")
    }
}

impl DerefMut for Snapshot {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("not finished")
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
    conn: Option<Connection>,
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
        match on!(conn, |c| c.execute(sql).await.map(drop)) {
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

    /// Marks a point the write can go back to ([`back_to_mark`](Write::back_to_mark)) and
    /// carry on: on PostgreSQL a failed statement otherwise spoils the whole transaction.
    pub async fn mark(&mut self) -> Result<(), sqlx::Error> {
        self.run("SAVEPOINT mark").await
    }

    /// Keeps what was done since the last [`mark`](Write::mark).
    pub async fn keep_since_mark(&mut self) -> Result<(), sqlx::Error> {
        self.run("RELEASE SAVEPOINT mark").await
    }

    /// Undoes what was done since the last [`mark`](Write::mark), and carries on.
    pub async fn back_to_mark(&mut self) -> Result<(), sqlx::Error> {
        self.run("ROLLBACK TO SAVEPOINT mark").await?;
        self.run("RELEASE SAVEPOINT mark").await
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
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("used after a failed statement of its own")
    }
}

impl DerefMut for Write {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("used after a failed statement of its own")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_database_password_never_reaches_a_message() {
        assert_eq!(super::redact("postgres://tollgate:s3cret@db/tollgate"), "postgres://tollgate:***@db/tollgate");
        assert_eq!(
            super::redact("postgres://tollgate@db/t?host=/run/postgresql"),
            "postgres://tollgate@db/t?host=/run/postgresql"
        );
        assert_eq!(super::redact("postgres://db/t"), "postgres://db/t");
    }
}
