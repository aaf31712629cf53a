//! A [`Node`] in this process, on real sockets, with one tenant, its key and a route; and
//! an outside connection to its database, for what the tests read or change behind it.

use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::ConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use tollgate::data_dir::DataDir;
use tollgate::node::{Node, NodeOptions};
use tollgate_core::store::keys::KeyIssue;
use tollgate_core::store::plans::PlanCreate;
use tollgate_core::store::routes::RouteCreate;
use tollgate_core::store::tenants::TenantCreate;
use tollgate_core::{Command, Ctx};

/// A running node with one tenant (`acme`, 10,000 credits), its key and a route costing 1.
pub struct Fixture {
    _dir: tempfile::TempDir,
    pub node: Node,
    pub secret: String,
    /// The key's visible prefix.
    pub prefix: String,
    /// Requests the gateway served (2xx) so far.
    pub served: i64,
    /// An outside connection to the same database file.
    pub outside: SqliteConnection,
    pub http: reqwest::Client,
}

pub async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::resolve(Some(dir.path().to_path_buf())).unwrap();
    let local = "127.0.0.1:0".parse().unwrap();
    let options = NodeOptions { admin_listen: Some(local), gateway_listen: Some(local), ..NodeOptions::default() };
    let node = Node::start(data, options).await.unwrap();
    let (console, ctx) = (node.console(), Ctx::now("test"));
    let plan = PlanCreate { name: "Pro".into(), credits_per_period: Some(10_000), ..Default::default() };
    plan.run(console, &ctx).await.unwrap();
    let tenant = TenantCreate { name: "acme".into(), plan: "pro".into(), ..Default::default() };
    tenant.run(console, &ctx).await.unwrap();
    let issued = KeyIssue { tenant: "acme".into(), ..Default::default() }.run(console, &ctx).await.unwrap();
    let upstream = crate::process::upstream();
    let route = RouteCreate { path_prefix: "/v1".into(), upstream_url: upstream, cost: Some(1), ..Default::default() };
    route.run(console, &ctx).await.unwrap();
    let outside = SqliteConnectOptions::new().filename(dir.path().join("tollgate.db")).connect().await.unwrap();
    let (secret, prefix) = (issued.secret, issued.key.prefix);
    Fixture { _dir: dir, node, secret, prefix, served: 0, outside, http: reqwest::Client::new() }
}

impl Fixture {
    /// One gateway request with the key: its status and `X-Credits-Remaining`.
    pub async fn spend(&mut self) -> (u16, Option<i64>) {
        let r =
            self.http.get(format!("{}/v1/x", self.node.gateway_url())).bearer_auth(&self.secret).send().await.unwrap();
        let left = r.headers().get("x-credits-remaining").map(|v| v.to_str().unwrap().parse().unwrap());
        self.served += i64::from(r.status().is_success());
        (r.status().as_u16(), left)
    }

    /// The stored balance less the served requests whose debit is not written yet: what
    /// memory must show when the two agree.
    pub async fn expected_balance(&mut self) -> i64 {
        // Credits, not entries: one usage entry may hold many requests' charges (cost 1 each).
        let (balance, debits): (i64, i64) = sqlx::query_as(
            "SELECT balance, (SELECT COALESCE(-SUM(amount), 0) FROM ledger WHERE kind = 'debit') FROM tenants
             WHERE slug = 'acme'",
        )
        .fetch_one(&mut self.outside)
        .await
        .unwrap();
        balance - (self.served - debits)
    }

    pub async fn scalar(&mut self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&mut self.outside).await.unwrap()
    }

    /// Waits until the gateway's writers are idle: the debit and the traffic record of
    /// every request so far are written, so the next commit of the node is the command's.
    pub async fn settled(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // The traffic log writes its counts every few seconds: now, rather than wait.
            if let Some(traffic) = self.node.console().traffic() {
                let _ = traffic.flush().await;
            }
            let debits = self.scalar("SELECT COALESCE(-SUM(amount), 0) FROM ledger WHERE kind = 'debit'").await;
            let usage = self.scalar("SELECT COALESCE(SUM(requests), 0) FROM usage_minutes").await;
            if debits == self.served && usage == self.served {
                return;
            }
            assert!(Instant::now() < deadline, "the gateway's writers did not catch up within 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Runs a console command through the admin API and returns its JSON answer.
    pub async fn call(&self, command: &str, input: Value) -> Value {
        let url = format!("{}/api/{command}", self.node.admin_url());
        let response = self.http.post(url).bearer_auth(self.node.token()).json(&input).send().await.unwrap();
        assert!(response.status().is_success(), "{command} failed: {}", response.status());
        response.json().await.unwrap()
    }

    /// Fills the write-ahead log with `mb` megabytes that the node's next commit must
    /// checkpoint: that commit is then visible to other connections for a while (hundreds of
    /// milliseconds) before the node's own COMMIT returns.
    pub async fn slow_next_commit(&mut self, mb: i64) {
        sqlx::query("PRAGMA wal_autocheckpoint = 0").execute(&mut self.outside).await.unwrap();
        sqlx::query("CREATE TABLE IF NOT EXISTS filler (b BLOB)").execute(&mut self.outside).await.unwrap();
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
             INSERT INTO filler SELECT randomblob(3900) FROM n",
        )
        .bind(mb * 256)
        .execute(&mut self.outside)
        .await
        .unwrap();
    }
}
