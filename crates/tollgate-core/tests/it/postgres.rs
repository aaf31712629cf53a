//! The PostgreSQL schema against a real server: Debian's `postgresql` started in a
//! temporary directory, listening on a Unix socket only. Its migrations must apply, give the
//! same tables and columns as the SQLite migrations, and keep the ledger's rules.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};
use tollgate_core::store::{MIGRATOR, POSTGRES_MIGRATOR};

/// A PostgreSQL server of its own, stopped (and its files removed) on drop.
pub struct PgServer {
    dir: tempfile::TempDir,
    child: Child,
}

/// The directory holding `initdb` and `postgres`: Debian installs them under
/// /usr/lib/postgresql/<major>/bin, off the PATH. `PG_BIN` overrides it.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return dir.into();
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed (scripts/deps.sh --test installs Debian's postgresql)")
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|bin| bin.join("postgres").exists())
        .collect();
    found.sort();
    found.pop().expect("no /usr/lib/postgresql/*/bin/postgres")
}

/// `program args…`, as the `postgres` user when this process is root (the server refuses
/// to run as root). `setpriv` execs the program itself, so signals reach the server.
fn as_server_user(program: &Path) -> Command {
    if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl PgServer {
    /// Initializes a cluster (superuser `tollgate`, trusted local connections) and starts it.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (data, socket) = (dir.path().join("data"), dir.path().to_path_buf());
        if unsafe { libc::geteuid() } == 0 {
            let status = Command::new("chown").arg("postgres:").arg(dir.path()).status().unwrap();
            assert!(status.success(), "chown of the server's directory failed");
        }
        let bin = bin_dir();
        let out = as_server_user(&bin.join("initdb"))
            .args(["-D"])
            .arg(&data)
            .args(["-U", "tollgate", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let child = as_server_user(&bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&socket)
            .args(["-c", "listen_addresses=", "-c", "fsync=off", "-c", "max_connections=200"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Self { dir, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !server.dir.path().join(".s.PGSQL.5432").exists() {
            assert!(Instant::now() < deadline, "PostgreSQL did not open its socket within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// Connection options for database `db` as the superuser.
    pub fn options(&self, db: &str) -> PgConnectOptions {
        PgConnectOptions::new().socket(self.dir.path()).username("tollgate").database(db)
    }

    /// A pool on a new, empty database called `db`.
    pub async fn database(&self, db: &str) -> PgPool {
        let admin = PgPoolOptions::new().max_connections(1).connect_with(self.options("postgres")).await.unwrap();
        // A name the test chose, quoted: nothing from outside reaches this statement.
        let create = sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{db}\""));
        sqlx::query(create).execute(&admin).await.unwrap();
        admin.close().await;
        PgPoolOptions::new().max_connections(8).connect_with(self.options(db)).await.unwrap()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        // SIGINT: PostgreSQL's fast shutdown.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let _ = self.child.wait();
    }
}

/// Each table's columns, and whether each may be NULL.
type Shape = BTreeMap<String, BTreeMap<String, bool>>;

async fn sqlite_shape() -> Shape {
    let dir = tempfile::tempdir().unwrap();
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(dir.path().join("t.db")).create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    MIGRATOR.run(&pool).await.unwrap();
    let rows = sqlx::query(
        "SELECT m.name, p.name, p.\"notnull\", p.pk FROM sqlite_master m, pragma_table_info(m.name) p
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut shape = Shape::new();
    for row in rows {
        let (table, column): (String, String) = (row.get(0), row.get(1));
        // A primary key is never NULL, whatever SQLite's table info says of INTEGER PRIMARY KEY.
        let nullable = row.get::<i64, _>(2) == 0 && row.get::<i64, _>(3) == 0;
        shape.entry(table).or_default().insert(column, nullable);
    }
    shape
}

async fn postgres_shape(pool: &PgPool) -> Shape {
    let rows = sqlx::query(
        "SELECT table_name::text, column_name::text, is_nullable = 'YES' FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut shape = Shape::new();
    for row in rows {
        shape.entry(row.get(0)).or_default().insert(row.get(1), row.get(2));
    }
    shape
}

#[tokio::test]
async fn the_postgres_schema_matches_sqlites_and_keeps_the_ledgers_rules() {
    let server = PgServer::start();
    let pool = server.database("schema").await;
    POSTGRES_MIGRATOR.run(&pool).await.expect("the PostgreSQL migrations apply");
    // Applying them again finds nothing to do.
    POSTGRES_MIGRATOR.run(&pool).await.unwrap();

    let (sqlite, postgres) = (sqlite_shape().await, postgres_shape(&pool).await);
    assert!(sqlite.contains_key("ledger") && sqlite.len() >= 15, "read the SQLite schema: {sqlite:?}");
    for (table, columns) in &sqlite {
        assert_eq!(postgres.get(table), Some(columns), "table {table}: PostgreSQL's columns differ from SQLite's");
    }
    let extra: Vec<_> = postgres.keys().filter(|t| !sqlite.contains_key(*t)).collect();
    assert!(extra.is_empty(), "tables only PostgreSQL has: {extra:?}");

    // The rules the ledger's invariant leans on hold in PostgreSQL too.
    let now = chrono::Utc::now();
    let tenant: i64 = sqlx::query_scalar(
        "INSERT INTO tenants (slug, name, balance, created_at, updated_at) VALUES ('acme', 'Acme', 5, $1, $1) RETURNING id",
    )
    .bind(now)
    .fetch_one(&pool)
    .await
    .unwrap();
    let overdrawn =
        sqlx::query("UPDATE tenants SET balance = balance - 6 WHERE id = $1").bind(tenant).execute(&pool).await;
    assert!(overdrawn.is_err(), "a balance below zero is refused");
    let entry: i64 = sqlx::query_scalar(
        "INSERT INTO ledger (tenant_id, kind, amount, balance_after, actor, created_at)
         VALUES ($1, 'topup', 5, 5, 'cli', $2) RETURNING id",
    )
    .bind(tenant)
    .bind(now)
    .fetch_one(&pool)
    .await
    .unwrap();
    let changed = sqlx::query("UPDATE ledger SET amount = 50 WHERE id = $1").bind(entry).execute(&pool).await;
    let message = changed.expect_err("a top-up entry cannot be changed").to_string();
    assert!(message.contains("append-only"), "{message}");
    let removed = sqlx::query("DELETE FROM ledger WHERE id = $1").bind(entry).execute(&pool).await;
    assert!(removed.expect_err("an entry cannot be removed").to_string().contains("append-only"));
    let sum: i64 = sqlx::query_scalar("SELECT SUM(amount)::BIGINT FROM ledger").fetch_one(&pool).await.unwrap();
    assert_eq!(sum, 5, "the refused changes changed nothing");
    pool.close().await;
}
