//! The traffic log: what the gateway did, kept for the operator. Denials are stored one by
//! one (and pruned after the retention period); served requests are summed per minute,
//! tenant and route, so the database does not grow with every request.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use utoipa::ToSchema;

use crate::audit::page_limit;
use crate::command::{Command, Ctx};
use std::sync::Arc;

use crate::events::Event;
use crate::list::List;
use crate::settings;
use crate::store::Store;
use crate::{Console, ConsoleError};

/// Denials kept while storage refuses writes; older ones are dropped (and counted in the log).
const MAX_PENDING_DENIALS: usize = 50_000;

/// How often the log writes what it gathered.
const FLUSH_EVERY: Duration = Duration::from_millis(500);

/// Feeds gateway events to the log writer; cheap to clone, never blocks.
#[derive(Clone, Debug)]
pub struct TrafficLog {
    tx: mpsc::UnboundedSender<Option<Arc<Event>>>,
}

impl TrafficLog {
    /// Starts the writer task; it flushes twice a second and prunes old denials hourly.
    pub fn spawn(store: Store) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, tokio::spawn(run(store, rx)))
    }

    /// Hands over one decision (shared with the hub, not copied); other events are ignored.
    pub fn record(&self, event: Arc<Event>) {
        let _ = self.tx.send(Some(event));
    }

    /// Writes what is pending and stops the task (the returned handle then completes).
    pub fn stop(&self) {
        let _ = self.tx.send(None);
    }
}

type UsageKey = (DateTime<Utc>, String, String);

async fn run(store: Store, mut rx: mpsc::UnboundedReceiver<Option<Arc<Event>>>) {
    let mut denials: Vec<Arc<Event>> = Vec::new();
    let mut usage: HashMap<UsageKey, (i64, i64)> = HashMap::new();
    let mut tick = tokio::time::interval(FLUSH_EVERY);
    let mut last_prune: Option<std::time::Instant> = None;
    let mut failing_since: Option<std::time::Instant> = None;
    let mut dropped: u64 = 0;
    loop {
        let stop = tokio::select! {
            message = rx.recv() => match message {
                Some(Some(event)) => {
                    gather(event, &mut denials, &mut usage);
                    if denials.len() < 1000 {
                        continue;
                    }
                    false
                }
                Some(None) | None => true,
            },
            _ = tick.tick() => false,
        };
        match flush(&store, &mut denials, &mut usage).await {
            Ok(()) => failing_since = None,
            Err(e) => {
                // Denials are samples, not money: while storage fails keep only the newest.
                if denials.len() > MAX_PENDING_DENIALS {
                    let excess = denials.len() - MAX_PENDING_DENIALS;
                    denials.drain(..excess);
                    dropped += excess as u64;
                }
                // Once when the failure begins, then every 30 s (the store reports it loudly).
                if failing_since.is_none_or(|t: std::time::Instant| t.elapsed() > Duration::from_secs(30)) {
                    tracing::error!(error = %e, dropped_denials = dropped,
                        "cannot write the traffic log; will retry (denials past 50,000 are dropped, the live monitor had them)");
                    failing_since = Some(std::time::Instant::now());
                }
            }
        }
        if stop {
            return;
        }
        if last_prune.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
            last_prune = Some(std::time::Instant::now());
            if let Err(e) = prune(&store, Utc::now()).await {
                tracing::warn!(error = %e, "cannot prune old denials");
            }
        }
    }
}

fn gather(shared: Arc<Event>, denials: &mut Vec<Arc<Event>>, usage: &mut HashMap<UsageKey, (i64, i64)>) {
    let Event::Gateway(event) = &*shared else { return };
    if event.code.is_some() {
        denials.push(shared);
    } else if let (Some(tenant), Some(route)) = (&event.tenant, &event.route) {
        let minute = event.at.duration_trunc(TimeDelta::minutes(1)).unwrap_or(event.at);
        let entry = usage.entry((minute, tenant.clone(), route.clone())).or_default();
        entry.0 += 1;
        entry.1 += event.cost;
    }
}

async fn flush(
    store: &Store,
    denials: &mut Vec<Arc<Event>>,
    usage: &mut HashMap<UsageKey, (i64, i64)>,
) -> Result<(), sqlx::Error> {
    if denials.is_empty() && usage.is_empty() {
        return Ok(());
    }
    let mut tx = store.begin().await?;
    for chunk in denials.chunks(100) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO denials (at, request_id, tenant, key_prefix, route, method, path, status, code, facts) ",
        );
        let rows = chunk.iter().filter_map(|e| match &**e {
            Event::Gateway(d) => Some(d),
            Event::Console(_) | Event::Storage(_) => None,
        });
        insert.push_values(rows, |mut row, d| {
            row.push_bind(d.at)
                .push_bind(d.request_id.as_str())
                .push_bind(d.tenant.as_deref())
                .push_bind(d.key_prefix.as_deref())
                .push_bind(d.route.as_deref())
                .push_bind(d.method.as_str())
                .push_bind(d.path.as_str())
                .push_bind(i64::from(d.status))
                .push_bind(d.code.as_deref())
                .push_bind(d.facts.as_ref().map(|f| f.get()));
        });
        insert.build().execute(&mut *tx).await?;
    }
    let totals: Vec<(&UsageKey, &(i64, i64))> = usage.iter().collect();
    for chunk in totals.chunks(100) {
        let mut upsert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO usage_minutes (minute, tenant, route, requests, credits) ",
        );
        upsert.push_values(chunk, |mut row, ((minute, tenant, route), (requests, credits))| {
            row.push_bind(*minute)
                .push_bind(tenant.as_str())
                .push_bind(route.as_str())
                .push_bind(*requests)
                .push_bind(*credits);
        });
        upsert.push(
            " ON CONFLICT (minute, tenant, route) DO UPDATE
              SET requests = requests + excluded.requests, credits = credits + excluded.credits",
        );
        upsert.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    denials.clear();
    usage.clear();
    Ok(())
}

/// Removes denials older than the retention the settings give.
pub async fn prune(store: &Store, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let mut conn = store.read().acquire().await?;
    let days = settings::load(&mut conn).await.map(|s| s.retention_days).unwrap_or(30);
    drop(conn);
    let cutoff = now - TimeDelta::days(days);
    let mut tx = store.begin().await?;
    // Rows arrive in time order: everything before the first row inside the retention goes
    // (or everything, when no row is that recent).
    let removed = sqlx::query(
        "DELETE FROM denials WHERE id < COALESCE(
             (SELECT id FROM denials WHERE julianday(at) >= julianday(?1) ORDER BY id LIMIT 1),
             (SELECT MAX(id) + 1 FROM denials))",
    )
    .bind(cutoff)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM usage_minutes WHERE julianday(minute) < julianday(?)")
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(removed.rows_affected())
}

/// A stored denial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Denial {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub request_id: String,
    pub tenant: Option<String>,
    pub key_prefix: Option<String>,
    pub route: Option<String>,
    pub method: String,
    pub path: String,
    pub status: i64,
    pub code: String,
    #[sqlx(json(nullable))]
    #[schema(value_type = Option<Object>)]
    pub facts: Option<serde_json::Value>,
}

/// `denial.list`: stored denials, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct DenialList {
    #[cfg_attr(feature = "cli", arg(long))]
    pub tenant: Option<String>,
    /// Only this code, e.g. INSUFFICIENT_CREDITS.
    #[cfg_attr(feature = "cli", arg(long))]
    pub code: Option<String>,
    #[cfg_attr(feature = "cli", arg(long))]
    pub before_id: Option<i64>,
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

impl Command for DenialList {
    const NAME: &'static str = "denial.list";
    const SUMMARY: &'static str = "List stored gateway denials, newest first";
    type Output = List<Denial>;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<List<Denial>, ConsoleError> {
        let limit = page_limit(self.limit)?;
        Ok(List(
            sqlx::query_as::<_, Denial>(
                "SELECT * FROM denials WHERE (?1 IS NULL OR tenant = ?1) AND (?2 IS NULL OR code = ?2)
                 AND (?3 IS NULL OR id < ?3) ORDER BY id DESC LIMIT ?4",
            )
            .bind(self.tenant)
            .bind(self.code)
            .bind(self.before_id)
            .bind(limit)
            .fetch_all(console.store().read())
            .await?,
        ))
    }
}

/// Served traffic of one tenant on one route in one minute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct UsageMinute {
    pub minute: DateTime<Utc>,
    pub tenant: String,
    pub route: String,
    pub requests: i64,
    pub credits: i64,
}

/// `usage.list`: served traffic per minute, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct UsageList {
    #[cfg_attr(feature = "cli", arg(long))]
    pub tenant: Option<String>,
    /// Only minutes at or after this instant (RFC 3339).
    #[cfg_attr(feature = "cli", arg(long))]
    pub since: Option<DateTime<Utc>>,
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

impl Command for UsageList {
    const NAME: &'static str = "usage.list";
    const SUMMARY: &'static str = "List served traffic per minute, tenant and route";
    type Output = List<UsageMinute>;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<List<UsageMinute>, ConsoleError> {
        let limit = page_limit(self.limit)?;
        Ok(List(
            sqlx::query_as::<_, UsageMinute>(
                "SELECT * FROM usage_minutes WHERE (?1 IS NULL OR tenant = ?1)
                 AND (?2 IS NULL OR julianday(minute) >= julianday(?2)) ORDER BY minute DESC, tenant, route LIMIT ?3",
            )
            .bind(self.tenant)
            .bind(self.since)
            .bind(limit)
            .fetch_all(console.store().read())
            .await?,
        ))
    }
}
