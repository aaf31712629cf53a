//! A fresh database in a temporary directory, fixed clocks, and shorthands for setup.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use sqlx::Row;
use tempfile::TempDir;
use tollgate_core::live::Live;
use tollgate_core::live::events::Hub;
use tollgate_core::live::settlement::{Debit, Settlement};
use tollgate_core::store::Store;
use tollgate_core::store::plans::{Plan, PlanCreate};
use tollgate_core::store::request_log::{RequestId, RequestLog, RequestRecord, Short};
use tollgate_core::store::tenants::{TenantCreate, TenantDetail};
use tollgate_core::{Command, Console, ConsoleError, Ctx};

/// A console over a real database that lives as long as this value: a SQLite file, or a
/// fresh database on the tests' PostgreSQL server when `TOLLGATE_TEST_ENGINE=postgres`.
pub struct World {
    pub dir: TempDir,
    pub console: Console,
    /// The PostgreSQL database's URL, when the world runs on PostgreSQL.
    pub url: Option<String>,
}

/// Whether the worlds of this run are on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("TOLLGATE_TEST_ENGINE").is_ok_and(|e| e == "postgres")
}

pub async fn world() -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = if on_postgres() { Some(crate::pg_server::fresh_database().await) } else { None };
    let console = open(&dir, url.as_deref()).await;
    World { dir, console, url }
}

/// A world on SQLite whatever the run's engine, for tests of SQLite's own behaviour.
pub async fn sqlite_world() -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let console = open(&dir, None).await;
    World { dir, console, url: None }
}

async fn open(dir: &TempDir, url: Option<&str>) -> Console {
    let store = match url {
        Some(url) => Store::connect(url).await,
        None => Store::open(&dir.path().join("tollgate.db")).await,
    };
    Console::new(store.expect("database opens"), Hub::default())
}

/// The instant tests happen at unless they move the clock.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap()
}

/// A context `days` after [`t0`].
pub fn at(days: i64) -> Ctx {
    Ctx { actor: "test".into(), now: t0() + TimeDelta::days(days) }
}

impl World {
    /// A second console on this world's database, as a restarted process would open it.
    pub async fn reopen(&self) -> Console {
        open(&self.dir, self.url.as_deref()).await
    }

    /// Runs a command at [`t0`].
    pub async fn run<C: Command>(&self, command: C) -> Result<C::Output, ConsoleError> {
        command.run(&self.console, &at(0)).await
    }

    /// Runs a command at `ctx`.
    pub async fn run_at<C: Command>(&self, ctx: &Ctx, command: C) -> Result<C::Output, ConsoleError> {
        command.run(&self.console, ctx).await
    }

    /// A plan granting `credits` per month with the `search` feature.
    pub async fn plan(&self, slug: &str, credits: i64) -> Plan {
        self.run(PlanCreate {
            name: slug.to_uppercase(),
            slug: Some(slug.into()),
            credits_per_period: Some(credits),
            features: vec!["search".into()],
            grace_days: Some(3),
            ..Default::default()
        })
        .await
        .expect("plan is created")
    }

    /// A tenant on `plan`.
    pub async fn tenant(&self, slug: &str, plan: &str) -> TenantDetail {
        self.run(TenantCreate { name: slug.into(), slug: Some(slug.into()), plan: plan.into(), ..Default::default() })
            .await
            .expect("tenant is created")
    }

    /// Every row of every table as text: equal dumps mean nothing changed.
    pub async fn dump(&self) -> String {
        let mut out = String::new();
        for table in ["plans", "tenants", "subscriptions", "api_keys", "routes", "ledger", "audit_log", "settings"] {
            let mut conn = self.console.store().reader().await.unwrap();
            // SQLite's cells as text; PostgreSQL's rows as JSON (its binary cells are not text).
            let rows: Vec<String> = tollgate_core::on!(&mut conn, |c| {
                let sqlite = format!("SELECT * FROM {table} ORDER BY rowid");
                let postgres = format!("SELECT CAST(row_to_json(t) AS TEXT) FROM {table} t ORDER BY 1");
                let sql = if std::any::type_name_of_val(&*c).contains("Sqlite") { sqlite } else { postgres };
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *c).await.expect("dump reads");
                rows.iter()
                    .map(|row| {
                        (0..row.len())
                            .map(|i| {
                                row.try_get_unchecked::<Option<String>, _>(i)
                                    .ok()
                                    .flatten()
                                    .unwrap_or_else(|| "NULL".into())
                            })
                            .collect::<Vec<_>>()
                            .join("|")
                    })
                    .collect()
            });
            for row in rows {
                out.push_str(&format!("{table}: {row}\n"));
            }
        }
        out
    }
}

/// Asserts `result` is an input error on `field`.
#[track_caller]
pub fn assert_invalid<T: std::fmt::Debug>(result: Result<T, ConsoleError>, field: &str) {
    match result {
        Err(ConsoleError::Invalid { field: f, .. }) => assert_eq!(f, field, "the error names the offending field"),
        other => panic!("expected an input error on '{field}', got {other:?}"),
    }
}

/// Asserts `result` is the error with `code`.
#[track_caller]
pub fn assert_code<T: std::fmt::Debug>(result: Result<T, ConsoleError>, code: &str) {
    match result {
        Err(e) => assert_eq!(e.code(), code, "wrong error: {e}"),
        Ok(v) => panic!("expected error {code}, got success {v:?}"),
    }
}

/// Gives the world's console a request log beside its database (as a node has), and
/// returns the writer handle the "gateway" records into.
pub fn with_request_log(w: &mut World) -> RequestLog {
    let (log, _writer) = RequestLog::open(&w.dir.path().join("requests.log"), 100_000).expect("the ring opens");
    w.console = w.console.clone().with_request_log(log.clone());
    log
}

/// Serves request number `counter` of tenant `tenant_id` in `strict` durability as the
/// gateway does: its charge committed, then its record (naming the entry that holds the
/// charge) written to `log`. Returns the request id its client got.
pub async fn strict_request(
    settlement: &Settlement,
    live: &Live,
    log: &RequestLog,
    tenant_id: i64,
    amount: i64,
    counter: u64,
) -> String {
    let id = RequestId { prefix: 0x5f3a_9c1e, counter };
    let request_id = id.to_string();
    let reservation = live.reserve(tenant_id, amount).expect("the tenant can pay");
    let debit = Debit { tenant_id, amount, request_id: &request_id, at: t0() };
    let committed = settlement.record_durably(debit, reservation).await.expect("the charge commits");
    assert!(committed.is_some(), "a strict charge names where it is held");
    log.record_now(RequestRecord {
        id,
        at_ms: t0().timestamp_millis(),
        tenant_id: Some(tenant_id),
        route_id: None,
        key_prefix: Short::new("tg_live_AbCd"),
        code: Short::new(""),
        method: Short::new("GET"),
        status: 200,
        cost: amount,
        latency_us: 100,
        committed,
    });
    request_id
}
