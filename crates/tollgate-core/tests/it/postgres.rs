//! PostgreSQL against a real server: Debian's `postgresql` started in a temporary
//! directory, listening on a Unix socket only. Its migrations must apply, give the same
//! tables and columns as the SQLite migrations (but for the leases of nodes sharing it), and
//! keep the ledger's rules; and nodes leasing a tenant's credits spend them exactly.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::pg_server::PgServer;

use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};
use tollgate_core::live::leased::{LeaseTerms, Leased, Spend};
use tollgate_core::store::changes::{self, ChangeFeed};
use tollgate_core::store::ledger::leases::{Ask, Cluster, LeaseUsage, RecordError};
use tollgate_core::store::{MIGRATOR, POSTGRES_MIGRATOR};

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

    let (sqlite, mut postgres) = (sqlite_shape().await, postgres_shape(&pool).await);
    // What only nodes sharing PostgreSQL need: their leases, the lease a debit is of, and
    // the log of console changes they follow, and their reports.
    assert!(postgres.remove("leases").is_some(), "the leases table");
    assert!(postgres.remove("changes").is_some(), "the change log");
    assert!(postgres.remove("nodes").is_some(), "the nodes' reports");
    assert_eq!(postgres.get_mut("ledger").and_then(|l| l.remove("lease_id")), Some(true));
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

/// A database with the schema and tenant `acme` holding `credits`, topped up through the
/// ledger; the tenant's id.
async fn funded(pool: &PgPool, credits: i64) -> i64 {
    POSTGRES_MIGRATOR.run(pool).await.unwrap();
    let now = chrono::Utc::now();
    let tenant: i64 = sqlx::query_scalar(
        "INSERT INTO tenants (slug, name, balance, created_at, updated_at) VALUES ('acme', 'Acme', $1, $2, $2) RETURNING id",
    )
    .bind(credits)
    .bind(now)
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO ledger (tenant_id, kind, amount, balance_after, actor, created_at) VALUES ($1, 'topup', $2, $2, 'cli', $3)",
    )
    .bind(tenant)
    .bind(credits)
    .bind(now)
    .execute(pool)
    .await
    .unwrap();
    tenant
}

fn terms(node: &str) -> LeaseTerms {
    LeaseTerms {
        node: node.into(),
        nodes: 3,
        block: 50,
        ttl: chrono::TimeDelta::seconds(30),
        margin: chrono::TimeDelta::seconds(5),
    }
}

/// A node takes its next lease while it still holds credits (a quarter of a block left):
/// the request that would have found the lease empty finds a fresh one instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_refilled_before_it_runs_out() {
    let server = PgServer::start();
    let pool = server.database("refill").await;
    let tenant = funded(&pool, 1000).await;
    let own = PgPoolOptions::new().max_connections(2).connect_with(server.options("refill")).await.unwrap();
    let node = Leased::new(Cluster::new(own), terms("a"));
    let leases = async || -> (i64, i64) {
        sqlx::query_as("SELECT COUNT(*) FILTER (WHERE closed_at IS NULL), COUNT(*) FROM leases")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    for _ in 0..38 {
        assert!(matches!(node.spend(tenant, 1, chrono::Utc::now()).await, Spend::Spent { .. }));
    }
    assert_eq!(leases().await, (1, 1), "38 of 50 spent, 12 left: no refill yet");
    assert!(matches!(node.spend(tenant, 1, chrono::Utc::now()).await, Spend::Spent { .. }));
    let deadline = Instant::now() + Duration::from_secs(5);
    while leases().await != (1, 2) {
        assert!(Instant::now() < deadline, "no refill with 11 of 50 credits left: {:?}", leases().await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let used: i64 = sqlx::query_scalar("SELECT used FROM leases ORDER BY id LIMIT 1").fetch_one(&pool).await.unwrap();
    assert_eq!(used, 39, "the first lease's use was recorded as it was swapped");
    for _ in 0..30 {
        assert!(matches!(node.spend(tenant, 1, chrono::Utc::now()).await, Spend::Spent { .. }));
    }
    assert_eq!(leases().await, (1, 2), "the next 30 calls were served from the refilled lease");
    node.give_back_all(chrono::Utc::now()).await.unwrap();
    assert!(Cluster::new(pool.clone()).verify().await.unwrap().ok);
}

/// A call costing more than a node's share near a balance's end still gets a lease that
/// covers it, as long as the balance does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_dearer_than_a_share_is_served_while_the_balance_covers_it() {
    let server = PgServer::start();
    let pool = server.database("dear").await;
    let tenant = funded(&pool, 90).await;
    let node = Leased::new(Cluster::new(pool.clone()), terms("a")); // shares of 90 / 6 = 15
    let mut served = 0;
    while let Spend::Spent { .. } = node.spend(tenant, 20, chrono::Utc::now()).await {
        served += 1;
    }
    assert_eq!(served, 4, "four calls of 20 from 90 credits; the last 10 cover none");
    node.give_back_all(chrono::Utc::now()).await.unwrap();
    let report = Cluster::new(pool.clone()).verify().await.unwrap();
    assert!(report.ok && report.outstanding == 0, "{report:?}");
}

/// A lease the database swept refuses its late usage; the node forgives that usage (in the
/// tenant's favour, refunding none of it) and still records every other lease's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swept_lease_does_not_hold_back_the_others_usage() {
    let server = PgServer::start();
    let pool = server.database("swept").await;
    let a = funded(&pool, 1000).await;
    let b: i64 = sqlx::query_scalar(
        "INSERT INTO tenants (slug, name, balance, created_at, updated_at) VALUES ('b', 'b', 1000, now(), now()) RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO ledger (tenant_id, kind, amount, balance_after, actor, created_at)
         VALUES ($1, 'topup', 1000, 1000, 'cli', now())",
    )
    .bind(b)
    .execute(&pool)
    .await
    .unwrap();
    let node = Leased::new(Cluster::new(pool.clone()), terms("a"));
    let t0 = chrono::Utc::now();
    let Spend::Spent { lease: a_lease } = node.spend(a, 3, t0).await else { panic!("a's lease until t0 + 30 s") };
    let later = t0 + chrono::TimeDelta::seconds(20);
    assert!(matches!(node.spend(b, 4, later).await, Spend::Spent { lease } if lease > 0), "b's until t0 + 50 s");
    let swept = Cluster::new(pool.clone()).sweep(t0 + chrono::TimeDelta::seconds(31)).await.unwrap();
    assert_eq!(swept, 50, "a's lease swept, all 50 of it back (its 3 were never recorded)");
    node.flush(t0 + chrono::TimeDelta::seconds(31)).await.expect("the rest of the group is recorded");
    let debits: Vec<(i64, i64)> =
        sqlx::query_as("SELECT tenant_id, -amount FROM ledger WHERE kind = 'debit' ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(debits, vec![(b, 4)], "b's usage recorded; a's forgiven");
    node.unspend(a, a_lease, 3, "r-a", t0).await.unwrap();
    let refunds: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM ledger WHERE kind = 'refund'").fetch_one(&pool).await.unwrap();
    assert_eq!(refunds, 0, "a forgiven call is not refunded");
    node.give_back_all(chrono::Utc::now()).await.unwrap();
    assert!(Cluster::new(pool.clone()).verify().await.unwrap().ok);
}

/// Three nodes, each with its own connections, 64 clients spread over them: together they
/// spend exactly the tenant's 1,000 credits, and at every moment (checked while they run)
/// the balance plus what the open leases hold equals the ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_leases_spend_exactly_the_balance() {
    let server = PgServer::start();
    let pool = server.database("leases").await;
    let tenant = funded(&pool, 1000).await;
    let mut nodes = Vec::new();
    for name in ["a", "b", "c"] {
        let own = PgPoolOptions::new().max_connections(4).connect_with(server.options("leases")).await.unwrap();
        nodes.push(Arc::new(Leased::new(Cluster::new(own), terms(name))));
    }
    let cluster = Cluster::new(pool.clone());
    let running = Arc::new(AtomicBool::new(true));
    let checker = {
        let (cluster, running) = (cluster.clone(), running.clone());
        tokio::spawn(async move {
            let mut checks = 0;
            while running.load(Ordering::Relaxed) {
                let report = cluster.verify().await.unwrap();
                assert!(report.ok, "mid-run: {report:?}");
                checks += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            checks
        })
    };
    let spent = Arc::new(AtomicI64::new(0));
    let clients: Vec<_> = (0..64)
        .map(|i| {
            let (node, spent) = (nodes[i % 3].clone(), spent.clone());
            tokio::spawn(async move {
                loop {
                    match node.spend(tenant, 1, chrono::Utc::now()).await {
                        Spend::Spent { .. } => spent.fetch_add(1, Ordering::Relaxed),
                        Spend::Empty => return,
                        Spend::Unavailable => panic!("the database is up"),
                    };
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
    running.store(false, Ordering::Relaxed);
    assert!(checker.await.unwrap() > 0, "the invariant was checked while they ran");
    assert_eq!(spent.load(Ordering::Relaxed), 1000, "exactly the balance, no more, no less");

    for node in &nodes {
        node.give_back_all(chrono::Utc::now()).await.unwrap();
    }
    let report = cluster.verify().await.unwrap();
    assert!(report.ok && report.outstanding == 0, "{report:?}");
    let (balance, debits, leases): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT balance FROM tenants WHERE id = $1),
                (SELECT -SUM(amount)::BIGINT FROM ledger WHERE kind = 'debit'),
                (SELECT COUNT(*) FROM leases)",
    )
    .bind(tenant)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((balance, debits), (0, 1000), "every credit spent is a debit, and none is left");
    assert!(leases > 3, "the nodes refilled their leases ({leases} granted)");
}

/// A lease that expired is swept: what it did not use goes back exactly, and usage can no
/// longer be recorded against it; a node cut off from the database serves from a lease in
/// hand until its expiry nears, then refuses.
#[tokio::test]
async fn an_expired_lease_is_swept_exactly_and_a_cut_off_node_stops_at_its_expiry() {
    let server = PgServer::start();
    let pool = server.database("sweep").await;
    let tenant = funded(&pool, 1000).await;
    let cluster = Cluster::new(pool.clone());
    let t0 = chrono::Utc::now();
    let ttl = chrono::TimeDelta::seconds(30);
    let ask = |node, want| Ask { tenant_id: tenant, node, want, least: 0, nodes: 3, now: t0, ttl };
    let lease = cluster.grant(&ask("a", 100)).await.unwrap().expect("a lease");
    assert_eq!(lease.granted, 100);
    let usage = LeaseUsage { lease_id: lease.id, credits: 30, requests: 30 };
    cluster.record(&[usage], "gateway:a", t0).await.unwrap();
    assert_eq!(cluster.sweep(t0 + chrono::TimeDelta::seconds(10)).await.unwrap(), 0, "not expired yet");
    assert_eq!(cluster.sweep(t0 + chrono::TimeDelta::seconds(31)).await.unwrap(), 70, "the unspent part, exactly");
    let late = cluster.record(&[LeaseUsage { credits: 1, requests: 1, ..usage }], "gateway:a", t0).await;
    assert!(matches!(late, Err(RecordError::Refused(id)) if id == lease.id), "{late:?}");
    let report = cluster.verify().await.unwrap();
    assert!(report.ok && report.outstanding == 0, "{report:?}");
    let balance: i64 = sqlx::query_scalar("SELECT balance FROM tenants").fetch_one(&pool).await.unwrap();
    assert_eq!(balance, 970);

    // A node asking for more than is left gets only a share: 970 / (2 × 3 nodes).
    let share = cluster.grant(&ask("b", 1000)).await.unwrap().unwrap();
    assert_eq!(share.granted, 161);
    assert_eq!(cluster.give_back(share.id, t0).await.unwrap(), 161);
    assert_eq!(cluster.give_back(share.id, t0).await.unwrap(), 0, "given back once");

    // A node whose database goes away.
    let own = PgPoolOptions::new().max_connections(2).connect_with(server.options("sweep")).await.unwrap();
    let node = Leased::new(Cluster::new(own.clone()), terms("c"));
    assert!(matches!(node.spend(tenant, 1, t0).await, Spend::Spent { .. }), "takes a lease of 50");
    own.close().await;
    for _ in 0..49 {
        assert!(matches!(node.spend(tenant, 1, t0).await, Spend::Spent { .. }), "served from the lease in hand");
    }
    assert_eq!(node.spend(tenant, 1, t0).await, Spend::Unavailable, "the lease is spent and none can be had");
    let near_expiry = t0 + chrono::TimeDelta::seconds(26);
    assert_eq!(node.spend(tenant, 1, near_expiry).await, Spend::Unavailable);
    // The database never saw its 50 spends: the sweeper gives the lease back whole (in the
    // tenant's favour), and what the node served is lost to the operator, not overdrawn.
    assert_eq!(cluster.sweep(t0 + chrono::TimeDelta::seconds(31)).await.unwrap(), 50);
    let report = cluster.verify().await.unwrap();
    assert!(report.ok, "{report:?}");
    pool.close().await;
}

/// Waits up to 5 s for `feed`'s next changes; their targets.
async fn next_targets(feed: &mut ChangeFeed) -> Vec<String> {
    let next = tokio::time::timeout(Duration::from_secs(5), feed.next()).await;
    next.expect("no change within 5 s").unwrap().into_iter().map(|c| c.target).collect()
}

/// A console change reaches every node, once; a rolled-back one never does; and killing the
/// nodes' LISTEN connections (`pg_terminate_backend`) loses none: what committed while they
/// were down comes from the log.
#[tokio::test]
async fn every_node_gets_every_committed_change_even_when_its_listen_connection_is_killed() {
    let server = PgServer::start();
    let pool = server.database("changes").await;
    POSTGRES_MIGRATOR.run(&pool).await.unwrap();
    let commit = |target: &'static str| {
        let pool = pool.clone();
        async move {
            let mut tx = pool.begin().await.unwrap();
            changes::record(&mut tx, target).await.unwrap();
            tx.commit().await.unwrap();
        }
    };
    commit("tenant:before").await;
    let mut feeds = Vec::new();
    for _ in 0..3 {
        let own = PgPoolOptions::new().max_connections(2).connect_with(server.options("changes")).await.unwrap();
        feeds.push(ChangeFeed::follow(own).await.unwrap());
    }

    commit("tenant:acme").await;
    let mut rolled_back = pool.begin().await.unwrap();
    changes::record(&mut rolled_back, "plan:never").await.unwrap();
    rolled_back.rollback().await.unwrap();
    for feed in &mut feeds {
        assert_eq!(next_targets(feed).await, ["tenant:acme"], "a change from before it followed, or a rolled-back one");
    }

    let killed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                               WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()) AS t",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(killed, 3, "each node's LISTEN connection");
    commit("settings").await;
    for feed in &mut feeds {
        assert_eq!(next_targets(feed).await, ["settings"], "the change made while it was cut off");
    }
    commit("route:3").await;
    for feed in &mut feeds {
        assert_eq!(next_targets(feed).await, ["route:3"], "and the next one, once listening again");
    }
    pool.close().await;
}

/// The cluster as the console sees it: every node with its last heartbeat, whether it is up,
/// and how far behind the change log it is.
#[tokio::test]
async fn the_cluster_shows_each_nodes_health_and_lag() {
    let server = PgServer::start();
    let pool = server.database("nodes").await;
    POSTGRES_MIGRATOR.run(&pool).await.unwrap();
    let mut last = 0;
    for target in ["tenant:a", "plan:pro", "settings"] {
        let mut tx = pool.begin().await.unwrap();
        last = changes::record(&mut tx, target).await.unwrap();
        tx.commit().await.unwrap();
    }
    // PostgreSQL keeps microseconds.
    let t0 = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6);
    changes::heartbeat(&pool, "a", last, t0).await.unwrap();
    changes::heartbeat(&pool, "b", last - 2, t0).await.unwrap();
    let seen = changes::nodes(&pool, t0 + chrono::TimeDelta::seconds(1)).await.unwrap();
    let view: Vec<_> = seen.iter().map(|n| (n.name.as_str(), n.up, n.changes_behind)).collect();
    assert_eq!(view, [("a", true, 0), ("b", true, 2)]);

    // b catches up and keeps reporting; a falls silent.
    changes::heartbeat(&pool, "b", last, t0 + chrono::TimeDelta::seconds(4)).await.unwrap();
    changes::heartbeat(&pool, "b", last - 1, t0 + chrono::TimeDelta::seconds(5)).await.unwrap();
    let seen = changes::nodes(&pool, t0 + chrono::TimeDelta::seconds(5)).await.unwrap();
    let view: Vec<_> = seen.iter().map(|n| (n.name.as_str(), n.up, n.changes_behind)).collect();
    assert_eq!(view, [("a", false, 0), ("b", true, 0)], "a late report never moves a node back");
    assert_eq!(seen[1].started_at, t0, "started when it first reported");
    pool.close().await;
}

/// Transactions PostgreSQL committed in database `db` so far.
async fn commits(pool: &PgPool, db: &str) -> i64 {
    sqlx::query_scalar("SELECT xact_commit FROM pg_stat_database WHERE datname = $1")
        .bind(db)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The `p`-th percentile of sorted `values`.
fn percentile(values: &[f64], p: f64) -> f64 {
    values[((values.len() - 1) as f64 * p).round() as usize]
}

/// `make bench`'s cluster section (run with `--ignored`): what the leases and the change log
/// cost PostgreSQL, three nodes on this machine. Not a gateway figure: the gateway does not
/// run on PostgreSQL yet, so this measures the two pieces that decide how far one database
/// carries nodes. Writes `artifacts/bench/cluster.json`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: make bench runs it"]
async fn bench_cluster() {
    let server = PgServer::start();
    let pool = server.database("bench").await;
    let tenant = funded(&pool, 100_000_000).await;
    let secs = std::env::var("CLUSTER_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(5u64);

    // Leases: 3 nodes, 16 clients each, spending 1 credit a call as fast as they can, each
    // node recording its usage every 100 ms (group commit) as the gateway's flush does.
    let mut nodes = Vec::new();
    for name in ["a", "b", "c"] {
        let own = PgPoolOptions::new().max_connections(4).connect_with(server.options("bench")).await.unwrap();
        let terms = LeaseTerms { block: 1000, ..terms(name) };
        nodes.push(Arc::new(Leased::new(Cluster::new(own), terms)));
    }
    let running = Arc::new(AtomicBool::new(true));
    let spent = Arc::new(AtomicI64::new(0));
    let before = commits(&pool, "bench").await;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..48 {
        let (node, spent, running) = (nodes[i % 3].clone(), spent.clone(), running.clone());
        tasks.push(tokio::spawn(async move {
            while running.load(Ordering::Relaxed) {
                assert!(matches!(node.spend(tenant, 1, chrono::Utc::now()).await, Spend::Spent { .. }));
                spent.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for node in &nodes {
        let (node, running) = (node.clone(), running.clone());
        tasks.push(tokio::spawn(async move {
            while running.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(100)).await;
                node.flush(chrono::Utc::now()).await.unwrap();
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    running.store(false, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let transactions = commits(&pool, "bench").await - before;
    let cluster = Cluster::new(pool.clone());
    for node in &nodes {
        node.flush(chrono::Utc::now()).await.unwrap();
    }
    let stranded = cluster.verify().await.unwrap().outstanding;
    let grants: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM leases").fetch_one(&pool).await.unwrap();
    for node in &nodes {
        node.give_back_all(chrono::Utc::now()).await.unwrap();
    }
    let report = cluster.verify().await.unwrap();
    assert!(report.ok && report.outstanding == 0, "{report:?}");
    let spent = spent.load(Ordering::Relaxed);

    // Change propagation: 200 console changes, 20 ms apart, to three nodes' feeds.
    let mut feeds = Vec::new();
    for _ in 0..3 {
        let own = PgPoolOptions::new().max_connections(2).connect_with(server.options("bench")).await.unwrap();
        feeds.push(ChangeFeed::follow(own).await.unwrap());
    }
    let committed: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let receivers: Vec<_> = feeds
        .into_iter()
        .map(|mut feed| {
            let committed = committed.clone();
            tokio::spawn(async move {
                let mut delays = Vec::new();
                while delays.len() < 200 {
                    for change in feed.next().await.unwrap() {
                        let at = committed.lock().unwrap().get(&change.id).copied();
                        delays.push(at.map_or(0.0, |at| at.elapsed().as_secs_f64() * 1000.0));
                    }
                }
                delays
            })
        })
        .collect();
    for i in 0..200 {
        let mut tx = pool.begin().await.unwrap();
        let id = changes::record(&mut tx, if i % 2 == 0 { "tenant:acme" } else { "settings" }).await.unwrap();
        // The clock starts when the commit is sent: what a console change waits for.
        committed.lock().unwrap().insert(id, Instant::now());
        tx.commit().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut delays = Vec::new();
    for receiver in receivers {
        delays.extend(tokio::time::timeout(Duration::from_secs(30), receiver).await.unwrap().unwrap());
    }
    delays.sort_by(f64::total_cmp);

    let figures = serde_json::json!({
        "seconds": elapsed,
        "nodes": 3,
        "clients": 48,
        "lease_block": 1000,
        "flush_ms": 100,
        "requests": spent,
        "requests_per_second": spent as f64 / elapsed,
        "postgres_transactions": transactions,
        "postgres_transactions_per_1000_requests": transactions as f64 * 1000.0 / spent as f64,
        "postgres_transactions_per_second": transactions as f64 / elapsed,
        "lease_grants": grants,
        "lease_grants_per_second_per_tenant": grants as f64 / elapsed,
        "credits_in_open_leases_at_stop": stranded,
        "change_to_node_ms_p50": percentile(&delays, 0.5),
        "change_to_node_ms_p99": percentile(&delays, 0.99),
        "changes_delivered": delays.len(),
    });
    println!("{}", serde_json::to_string_pretty(&figures).unwrap());
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/bench");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("cluster.json"), serde_json::to_vec_pretty(&figures).unwrap()).unwrap();
    pool.close().await;
}
