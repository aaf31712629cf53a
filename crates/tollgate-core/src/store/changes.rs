//! The change log of nodes sharing one PostgreSQL: a console write records what it changed
//! ([`record`], in its own transaction, with a `NOTIFY` delivered only if it commits), and
//! each node's [`ChangeFeed`] hands it every change: notified ones at once, and those a
//! lost connection or a missed notification hid, from the log (notifications are not
//! replayed), read again after a reconnect and every second as a backstop.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use utoipa::ToSchema;

use crate::store::Connection;

/// The notification channel.
const CHANNEL: &str = "tollgate_changes";

/// How often the log is read even when notifications flow.
pub const BACKSTOP: Duration = Duration::from_secs(1);

/// How far back the log is read: a change older than this that a feed never saw is left to
/// the periodic reconciliation (which compares everything).
const WINDOW: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// One committed change: what to read again.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Change {
    pub id: i64,
    pub target: String,
}

/// Records that `target` changed, inside the caller's transaction.
pub async fn record(conn: &mut PgConnection, target: &str) -> sqlx::Result<i64> {
    let id: i64 = sqlx::query_scalar("INSERT INTO changes (target) VALUES ($1) RETURNING id")
        .bind(target)
        .fetch_one(&mut *conn)
        .await?;
    // The payload carries the target, so a node needs no query to learn it.
    sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(format!("{id} {target}")).execute(conn).await?;
    Ok(id)
}

/// Records that `target` changed, inside the caller's transaction, when other nodes share
/// the database (on PostgreSQL); on SQLite this process is alone and nothing is recorded.
pub(crate) async fn announce(conn: &mut Connection, target: &str) -> sqlx::Result<()> {
    match conn {
        Connection::Postgres(c) => record(c, target).await.map(drop),
        Connection::Sqlite(_) => Ok(()),
    }
}

/// The newest change's id (0 for none): where a node that starts following now stands.
pub async fn newest(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM changes").fetch_one(pool).await
}

/// A node's view of the change log.
pub struct ChangeFeed {
    pool: PgPool,
    listener: Option<PgListener>,
    /// Changes handed out, by id, with when they were: kept for [`WINDOW`] so the log's
    /// rows are handed out once.
    seen: HashMap<i64, DateTime<Utc>>,
    backstop: tokio::time::Interval,
    /// The log must be read before the next notification is trusted (a new connection).
    catch_up: bool,
}

impl ChangeFeed {
    /// Follows the log from now: changes committed before are not handed out.
    pub async fn follow(pool: PgPool) -> sqlx::Result<Self> {
        let mut feed = Self {
            pool,
            listener: None,
            seen: HashMap::new(),
            backstop: tokio::time::interval(BACKSTOP),
            catch_up: false,
        };
        feed.listener = Some(feed.listen().await?);
        let now = Utc::now();
        for change in feed.recent().await? {
            feed.seen.insert(change.id, now);
        }
        Ok(feed)
    }

    async fn listen(&self) -> sqlx::Result<PgListener> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }

    async fn recent(&self) -> sqlx::Result<Vec<Change>> {
        sqlx::query_as("SELECT id, target FROM changes WHERE at > clock_timestamp() - $1 ORDER BY id")
            .bind(WINDOW)
            .fetch_all(&self.pool)
            .await
    }

    /// The next changes not handed out yet, oldest first; waits until there is one.
    pub async fn next(&mut self) -> sqlx::Result<Vec<Change>> {
        loop {
            if self.catch_up {
                let fresh = self.unseen(self.recent().await?);
                self.catch_up = false;
                if !fresh.is_empty() {
                    return Ok(fresh);
                }
            }
            let Some(listener) = self.listener.as_mut() else {
                // Reconnect, then read the log: what committed meanwhile is there.
                match self.listen().await {
                    Ok(listener) => (self.listener, self.catch_up) = (Some(listener), true),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for changes; retrying");
                        tokio::time::sleep(BACKSTOP).await;
                    }
                }
                continue;
            };
            tokio::select! {
                received = listener.try_recv() => match received {
                    Ok(Some(notification)) => {
                        let Some((id, target)) = notification.payload().split_once(' ') else { continue };
                        let Ok(id) = id.parse::<i64>() else { continue };
                        let fresh = self.unseen(vec![Change { id, target: target.to_string() }]);
                        if !fresh.is_empty() {
                            return Ok(fresh);
                        }
                    }
                    // The connection was lost (and is being reopened): read the log.
                    Ok(None) => self.catch_up = true,
                    Err(e) => {
                        tracing::warn!(error = %e, "lost the change notifications; reconnecting");
                        self.listener = None;
                    }
                },
                _ = self.backstop.tick() => self.catch_up = true,
            }
        }
    }

    /// Those of `changes` not handed out before, now marked as handed out.
    fn unseen(&mut self, changes: Vec<Change>) -> Vec<Change> {
        let now = Utc::now();
        self.seen.retain(|_, at| now - *at < WINDOW * 2);
        changes.into_iter().filter(|c| self.seen.insert(c.id, now).is_none()).collect()
    }
}

/// `cluster.nodes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct ClusterNodes {}

/// A node silent for longer than this is shown as down.
pub const HEARTBEAT_GRACE: TimeDelta = TimeDelta::seconds(3);

/// One node of the cluster as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct NodeStatus {
    pub name: String,
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub seen_at: DateTime<Utc>,
    /// Heard from within [`HEARTBEAT_GRACE`].
    pub up: bool,
    /// Changes in the log newer than the newest it applied.
    pub changes_behind: i64,
}

/// Node `node` is alive at `now` and has applied the log up to change `applied`.
pub async fn heartbeat(pool: &PgPool, node: &str, applied: i64, now: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO nodes (name, started_at, seen_at, applied_change) VALUES ($1, $2, $2, $3)
         ON CONFLICT (name) DO UPDATE SET seen_at = $2, applied_change = GREATEST(nodes.applied_change, $3)",
    )
    .bind(node)
    .bind(now)
    .bind(applied)
    .execute(pool)
    .await?;
    Ok(())
}

/// Every node that ever reported, by name, as of `now`.
pub async fn nodes(pool: &PgPool, now: DateTime<Utc>) -> sqlx::Result<Vec<NodeStatus>> {
    sqlx::query_as(
        "SELECT name, started_at, seen_at, seen_at >= $1 - $2 AS up,
                GREATEST(0, COALESCE((SELECT MAX(id) FROM changes), 0) - applied_change) AS changes_behind
         FROM nodes ORDER BY name",
    )
    .bind(now)
    .bind(HEARTBEAT_GRACE)
    .fetch_all(pool)
    .await
}
