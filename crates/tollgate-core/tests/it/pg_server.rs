//! A PostgreSQL server of the tests' own: Debian's `postgresql` started in a temporary
//! directory, listening on a Unix socket only.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tollgate_core::store::POSTGRES_MIGRATOR;

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

/// The server the whole test binary shares (started on first use, stopped at exit), and
/// its migrated template database.
static SHARED: OnceLock<PgServer> = OnceLock::new();
static TEMPLATE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
static NEXT: AtomicU32 = AtomicU32::new(0);

/// Stops the shared server when the test binary exits (statics are never dropped).
extern "C" fn stop_shared() {
    if let Some(server) = SHARED.get() {
        unsafe { libc::kill(server.child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.dir.path().join(".s.PGSQL.5432").exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(server.dir.path());
    }
}

/// The URL of a new database, with the schema already migrated, on the shared server.
pub async fn fresh_database() -> String {
    let server = SHARED.get_or_init(|| {
        unsafe { libc::atexit(stop_shared) };
        PgServer::start()
    });
    TEMPLATE
        .get_or_init(|| async {
            let pool = server.database("migrated").await;
            POSTGRES_MIGRATOR.run(&pool).await.expect("the PostgreSQL migrations apply");
            pool.close().await;
        })
        .await;
    let db = format!("w{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let admin = PgPoolOptions::new().max_connections(1).connect_with(server.options("postgres")).await.unwrap();
    // A name this module chose: nothing from outside reaches this statement.
    let create = sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{db}\" TEMPLATE migrated"));
    sqlx::query(create).execute(&admin).await.unwrap();
    admin.close().await;
    format!("postgres://tollgate@localhost/{db}?host={}", server.dir.path().display())
}
