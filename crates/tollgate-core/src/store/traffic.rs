//! The traffic log: what the gateway did, kept for the operator without a row per request.
//!
//! - Denials are counted per minute, tenant (none for keyless requests), route, status and
//!   code (`denial_minutes`), and the first [`TrafficLimits::samples_per_key`] of each such
//!   count per minute are kept whole as samples (`denials`, path cut to
//!   [`TrafficLimits::path_bytes`]).
//! - Served requests are summed per minute, tenant and route (`usage_minutes`).
//! - Requests made with a known key are counted per key, with the latest time, and
//!   written to the key (`api_keys.calls`, `last_used_at`): one row per key used per
//!   count write, never a write per request. Held for keys the gateway found, so bounded
//!   by them.
//!
//! Samples are written every [`FLUSH_EVERY`] (their buffer is bounded); each count only
//! every [`COUNTS_EVERY`], a tenth of them (by hash) with each write, so a busy (minute,
//! tenant, route) row is upserted about a dozen times a minute rather than 120, and no write
//! carries every count at once (on a one-CPU server every write is time the requests behind
//! it wait). `traffic.history` adds the counts memory still holds, so it stays exact; a
//! key's stored `calls` and `last_used_at` trail the gateway by up to [`COUNTS_EVERY`]. A
//! stop or a [`TrafficLog::flush`] writes everything.
//!
//! Counting happens when the gateway records the event, in maps under mutexes (no queue
//! of events): served requests and key use in each gateway thread's own ([`PerThread`]:
//! the allowed path takes no lock another CPU holds), denials and their samples in one
//! shared map (a sample is taken once per kind and minute, whichever thread sees it). Each
//! map's size is bounded by the keys of two minutes, capped at [`TrafficLimits::max_keys`]
//! (the served counts per thread); past the cap a request is counted without its tenant
//! and route (never lost, counted as unattributed). Samples wait in a bounded buffer; when it
//! is full (storage slow or failing) a sample is dropped and counted. What was dropped is
//! shown by `traffic.status`. Old rows are deleted in batches of [`PRUNE_BATCH`], each its
//! own short write, so a console command waits at most one batch behind a prune.

use crate::domain::budget::BudgetPeriod;
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use utoipa::ToSchema;

use crate::domain::gateway_event::GatewayEvent;
use crate::domain::per_thread::PerThread;
use crate::store::dialects;
use crate::store::{Connection, on};
use crate::store::{Store, settings};

/// How often the log writes the samples it gathered.
const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// Writes a count waits for: each write takes one slice of the counts (usage and denial
/// minutes, key calls), by hash, so each count is written every [`COUNTS_EVERY`].
const COUNT_SLICES: u64 = 10;
/// How often each count is written ([`COUNT_SLICES`] writes).
pub const COUNTS_EVERY: Duration = Duration::from_secs(5);
/// How often old rows are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// Rows deleted per statement (each its own write).
pub const PRUNE_BATCH: i64 = 1000;

/// The bounds of the traffic log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafficLimits {
    /// Whole denials kept per minute, tenant, route, status and code.
    pub samples_per_key: u8,
    /// Samples held in memory (gathered and not yet written); more are dropped and counted.
    pub max_pending_samples: u64,
    /// Distinct count keys held (the current and the previous minute): denials, and served
    /// requests on each gateway thread.
    pub max_keys: usize,
    /// Bytes of a sample's path kept.
    pub path_bytes: usize,
}

impl Default for TrafficLimits {
    fn default() -> Self {
        Self { samples_per_key: 3, max_pending_samples: 2000, max_keys: 20_000, path_bytes: 512 }
    }
}

/// Feeds gateway decisions to the log; cheap to clone, never blocks on storage.
#[derive(Clone)]
pub struct TrafficLog {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for TrafficLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrafficLog").field("limits", &self.shared.limits).finish_non_exhaustive()
    }
}

struct Shared {
    limits: TrafficLimits,
    /// Denials and samples.
    tallies: Mutex<Tallies>,
    /// Served requests and key use, per thread.
    served: PerThread<Mutex<Served>>,
    wake: Notify,
    stopping: AtomicBool,
    /// Denials chosen as samples, written or not.
    sampled: AtomicU64,
    stored: AtomicU64,
    dropped: AtomicU64,
    /// Samples in memory: gathered, or taken by the writer and not yet written.
    held: AtomicU64,
    peak_held: AtomicU64,
    /// Denials counted without tenant and route because the key cap was reached.
    unattributed: AtomicU64,
    /// Counts taken out of memory and not yet committed; the writer holds it from taking
    /// to committing, so a reader holding it sees every count exactly once (stored or here).
    unwritten: tokio::sync::Mutex<Unwritten>,
    /// Callers of [`TrafficLog::flush`] waiting for the next write of everything.
    flushes: Mutex<Vec<oneshot::Sender<Result<(), String>>>>,
}

struct Tallies {
    hasher: RandomState,
    denials: Tally<DenialKey, DenialCount>,
    samples: Vec<Sample>,
}

/// One thread's served requests and key use since they were last taken.
struct Served {
    hasher: RandomState,
    usage: Tally<UsageKey, UsageCount>,
    /// Per key prefix: calls since the last flush and the latest of them.
    keys: HashMap<Box<str>, KeyUse>,
}

impl Default for Served {
    fn default() -> Self {
        Self { hasher: RandomState::new(), usage: Tally::new(), keys: HashMap::new() }
    }
}

impl Served {
    /// Counts `event`'s key use, and the request when it was served (in `minute`, past
    /// `max_keys` without its tenant and route); false when it was counted so.
    fn count(&mut self, event: &GatewayEvent, minute: i64, max_keys: usize) -> bool {
        let Served { hasher, usage, keys } = self;
        if let Some(prefix) = event.key_prefix.as_deref() {
            match keys.get_mut(prefix) {
                Some(used) => {
                    used.calls += 1;
                    used.credits += event.cost;
                    used.last = used.last.max(event.at);
                }
                None => {
                    keys.insert(prefix.into(), KeyUse { calls: 1, credits: event.cost, last: event.at });
                }
            }
        }
        let (None, Some(tenant), Some(route)) = (&event.code, event.tenant.as_deref(), event.route.as_deref()) else {
            return true;
        };
        let hash = hasher.hash_one((minute, tenant, route));
        let make = || UsageKey { minute, tenant: tenant.into(), route: route.into() };
        let is = |k: &UsageKey| k.minute == minute && &*k.tenant == tenant && &*k.route == route;
        let (entry, attributed) = match usage.entry(hash, is, make, max_keys) {
            Some(entry) => (entry, true),
            None => {
                let hash = hasher.hash_one((minute, "*", "*"));
                let is = |k: &UsageKey| k.minute == minute && &*k.tenant == "*" && &*k.route == "*";
                let make = || UsageKey { minute, tenant: "*".into(), route: "*".into() };
                (usage.entry(hash, is, make, usize::MAX).expect("no cap"), false)
            }
        };
        entry.requests += 1;
        entry.credits += event.cost;
        attributed
    }
}

/// Requests made with one key since the last flush, and the credits they were charged.
#[derive(Clone, Copy)]
struct KeyUse {
    calls: i64,
    credits: i64,
    last: DateTime<Utc>,
}

/// Entries found by a hash of their borrowed parts, so counting an event allocates only
/// for a key not seen yet.
struct Tally<K, V> {
    buckets: HashMap<u64, Vec<(K, V)>>,
    len: usize,
}

impl<K, V: Default> Tally<K, V> {
    fn new() -> Self {
        Self { buckets: HashMap::new(), len: 0 }
    }

    /// The entry whose key `is`, made with `make` when missing and fewer than `cap` are held.
    fn entry(&mut self, hash: u64, is: impl Fn(&K) -> bool, make: impl FnOnce() -> K, cap: usize) -> Option<&mut V> {
        let found = self.buckets.get(&hash).and_then(|b| b.iter().position(|(k, _)| is(k)));
        if found.is_none() && self.len >= cap {
            return None;
        }
        let bucket = self.buckets.entry(hash).or_default();
        let at = match found {
            Some(at) => at,
            None => {
                bucket.push((make(), V::default()));
                self.len += 1;
                bucket.len() - 1
            }
        };
        Some(&mut bucket[at].1)
    }

    /// Shows every entry to `see`.
    fn each(&self, mut see: impl FnMut(&K, &V)) {
        for (k, v) in self.buckets.values().flatten() {
            see(k, v);
        }
    }

    /// Hands every entry whose hash `counts` picks to `take` (which may empty it) and drops
    /// those of them `keep` refuses.
    fn drain(&mut self, counts: Counts, mut take: impl FnMut(&K, &mut V), keep: impl Fn(&K) -> bool) {
        let mut removed = 0;
        self.buckets.retain(|hash, bucket| {
            if !counts.picks(*hash) {
                return true;
            }
            for (k, v) in bucket.iter_mut() {
                take(k, v);
            }
            let before = bucket.len();
            bucket.retain(|(k, _)| keep(k));
            removed += before - bucket.len();
            !bucket.is_empty()
        });
        self.len -= removed;
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct DenialKey {
    minute: i64,
    tenant: Option<Box<str>>,
    route: Option<Box<str>>,
    status: u16,
    code: Box<str>,
}

#[derive(Default)]
struct DenialCount {
    /// Counted since the last flush.
    requests: i64,
    /// Samples taken this minute.
    sampled: u8,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct UsageKey {
    minute: i64,
    tenant: Box<str>,
    route: Box<str>,
}

#[derive(Default, Clone, Copy)]
struct UsageCount {
    requests: i64,
    credits: i64,
}

/// A denial kept whole.
struct Sample {
    at: DateTime<Utc>,
    request_id: String,
    tenant: Option<Arc<str>>,
    key_prefix: Option<Arc<str>>,
    route: Option<Arc<str>>,
    method: Cow<'static, str>,
    path: String,
    path_truncated: bool,
    status: u16,
    code: Cow<'static, str>,
    facts: Option<Box<serde_json::value::RawValue>>,
}

impl TrafficLog {
    /// Starts the writer (samples twice a second, each count every 5 s) and the pruner (every
    /// ten minutes).
    pub fn spawn(store: Store) -> (Self, JoinHandle<()>) {
        Self::spawn_with(store, TrafficLimits::default())
    }

    /// [`spawn`](Self::spawn) within other bounds.
    pub fn spawn_with(store: Store, limits: TrafficLimits) -> (Self, JoinHandle<()>) {
        let log = Self::new(limits);
        (log.clone(), tokio::spawn(run(store, log.shared)))
    }

    /// A log nothing writes yet.
    fn new(limits: TrafficLimits) -> Self {
        Self {
            shared: Arc::new(Shared {
                limits,
                tallies: Mutex::new(Tallies { hasher: RandomState::new(), denials: Tally::new(), samples: Vec::new() }),
                served: PerThread::default(),
                wake: Notify::new(),
                stopping: AtomicBool::new(false),
                sampled: AtomicU64::new(0),
                stored: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                held: AtomicU64::new(0),
                peak_held: AtomicU64::new(0),
                unattributed: AtomicU64::new(0),
                unwritten: tokio::sync::Mutex::new(Unwritten::default()),
                flushes: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Counts one decision (and keeps it whole when it is among the first denials of its
    /// kind this minute); reads the event, never keeps it.
    pub fn record(&self, event: &GatewayEvent) {
        let minute = event.at.timestamp().div_euclid(60);
        let limits = &self.shared.limits;
        // A key's use and a served request: this thread's own counts.
        if event.key_prefix.is_some() || event.code.is_none() {
            let mut served = self.shared.served.mine().lock().unwrap_or_else(|e| e.into_inner());
            if !served.count(event, minute, limits.max_keys) {
                self.shared.unattributed.fetch_add(1, Ordering::Relaxed);
            }
        }
        let Some(code) = event.code.as_deref() else { return };
        let mut tallies = self.shared.tallies.lock().unwrap_or_else(|e| e.into_inner());
        let Tallies { hasher, denials, samples } = &mut *tallies;
        let (tenant, route, status) = (event.tenant.as_deref(), event.route.as_deref(), event.status);
        let hash = hasher.hash_one((minute, tenant, route, status, code));
        let is = |k: &DenialKey| {
            k.minute == minute
                && k.status == status
                && k.tenant.as_deref() == tenant
                && k.route.as_deref() == route
                && &*k.code == code
        };
        let make = || DenialKey {
            minute,
            tenant: tenant.map(Into::into),
            route: route.map(Into::into),
            status,
            code: code.into(),
        };
        let sample = match denials.entry(hash, is, make, limits.max_keys) {
            Some(count) => {
                count.requests += 1;
                let sample = count.sampled < limits.samples_per_key;
                count.sampled += u8::from(sample);
                sample
            }
            None => {
                // Past the cap: still counted, without tenant and route (bounded by the codes).
                self.shared.unattributed.fetch_add(1, Ordering::Relaxed);
                let hash = hasher.hash_one((minute, None::<&str>, None::<&str>, status, code));
                let is = |k: &DenialKey| {
                    k.minute == minute
                        && k.status == status
                        && k.tenant.is_none()
                        && k.route.is_none()
                        && &*k.code == code
                };
                let make = || DenialKey { minute, tenant: None, route: None, status, code: code.into() };
                denials.entry(hash, is, make, usize::MAX).expect("no cap").requests += 1;
                false
            }
        };
        if !sample {
            return;
        }
        self.shared.sampled.fetch_add(1, Ordering::Relaxed);
        let held = self.shared.held.fetch_add(1, Ordering::Relaxed) + 1;
        if held > limits.max_pending_samples {
            self.shared.held.fetch_sub(1, Ordering::Relaxed);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.shared.peak_held.fetch_max(held, Ordering::Relaxed);
        samples.push(Sample::of(event, limits.path_bytes));
    }

    /// How the log is doing: samples taken, stored, dropped and waiting.
    pub fn stats(&self) -> TrafficStats {
        let s = &self.shared;
        TrafficStats {
            samples_taken: s.sampled.load(Ordering::Relaxed),
            samples_stored: s.stored.load(Ordering::Relaxed),
            samples_dropped: s.dropped.load(Ordering::Relaxed),
            samples_pending: s.held.load(Ordering::Relaxed),
            samples_peak_pending: s.peak_held.load(Ordering::Relaxed),
            sample_limit: s.limits.max_pending_samples,
            denials_unattributed: s.unattributed.load(Ordering::Relaxed),
        }
    }

    /// Writes everything recorded so far, counts included, and waits until it is written.
    pub async fn flush(&self) -> Result<(), FlushError> {
        let (done, written) = oneshot::channel();
        self.shared.flushes.lock().unwrap_or_else(|e| e.into_inner()).push(done);
        self.shared.wake.notify_one();
        match written.await {
            Ok(result) => result.map_err(FlushError),
            Err(_) => Err(FlushError("the traffic writer has stopped".into())),
        }
    }

    /// Writes what is pending and stops the task (the returned handle then completes).
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::Release);
        self.shared.wake.notify_one();
    }

    /// Keeps the writer from committing counts while the returned guard lives, so what a
    /// reader finds stored and what [`WritesHeld::pending`] reports never overlap.
    pub(crate) async fn hold_writes(&self) -> WritesHeld<'_> {
        WritesHeld { shared: &self.shared, unwritten: self.shared.unwritten.lock().await }
    }
}

/// Why [`TrafficLog::flush`] did not write (what it could not write stays in memory).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot write the traffic log: {0}")]
pub struct FlushError(String);

/// The writer kept from committing (see [`TrafficLog::hold_writes`]).
pub(crate) struct WritesHeld<'a> {
    shared: &'a Shared,
    unwritten: tokio::sync::MutexGuard<'a, Unwritten>,
}

/// Denials recorded and not yet stored, per minute (Unix minutes), tenant, status and code.
pub(crate) type PendingDenial = (i64, Option<String>, u16, String, i64);
/// Served requests recorded and not yet stored, per minute, tenant: requests and credits.
pub(crate) type PendingUsage = (i64, String, i64, i64);

/// Counts recorded and not yet stored, and the instant they were read at: every decision
/// recorded before `as_of` is either stored or in here.
pub(crate) struct Pending {
    pub as_of: DateTime<Utc>,
    pub denials: Vec<PendingDenial>,
    pub usage: Vec<PendingUsage>,
}

impl WritesHeld<'_> {
    /// What memory holds and the writer has not committed, read at one instant.
    pub(crate) fn pending(&self) -> Pending {
        // Every map held while the instant is read: a decision recorded before it is in one.
        let tallies = self.shared.tallies.lock().unwrap_or_else(|e| e.into_inner());
        let served: Vec<_> = self.shared.served.all().map(|s| s.lock().unwrap_or_else(|e| e.into_inner())).collect();
        let as_of = Utc::now();
        let mut pending = Pending { as_of, denials: Vec::new(), usage: Vec::new() };
        let mut denial = |k: &DenialKey, requests: i64| {
            if requests > 0 {
                let tenant = k.tenant.as_deref().map(str::to_string);
                pending.denials.push((k.minute, tenant, k.status, k.code.to_string(), requests));
            }
        };
        tallies.denials.each(|k, v| denial(k, v.requests));
        for (k, requests) in &self.unwritten.denials {
            denial(k, *requests);
        }
        let mut usage = |k: &UsageKey, c: &UsageCount| {
            if c.requests > 0 {
                pending.usage.push((k.minute, k.tenant.to_string(), c.requests, c.credits));
            }
        };
        for served in &served {
            served.usage.each(|k, v| usage(k, v));
        }
        for (k, c) in &self.unwritten.usage {
            usage(k, c);
        }
        pending
    }
}

impl Sample {
    /// A denial's sample (`event.code` is its code).
    fn of(event: &GatewayEvent, path_bytes: usize) -> Self {
        let mut cut = event.path.len().min(path_bytes);
        while !event.path.is_char_boundary(cut) {
            cut -= 1;
        }
        Self {
            at: event.at,
            request_id: event.request_id.clone(),
            tenant: event.tenant.clone(),
            key_prefix: event.key_prefix.clone(),
            route: event.route.clone(),
            method: event.method.clone(),
            path: event.path[..cut].to_string(),
            path_truncated: cut < event.path.len(),
            status: event.status,
            code: event.code.clone().unwrap_or_default(),
            facts: event.facts.clone(),
        }
    }
}

/// Counters of the traffic log since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrafficStats {
    /// Denials chosen to be kept whole.
    pub samples_taken: u64,
    /// Of those, written to the database.
    pub samples_stored: u64,
    /// Of those, dropped because the buffer was full (storage slow or failing).
    pub samples_dropped: u64,
    /// Waiting to be written.
    pub samples_pending: u64,
    /// The most ever waiting at once.
    pub samples_peak_pending: u64,
    /// The most that may wait; past it samples are dropped.
    pub sample_limit: u64,
    /// Denials counted without their tenant and route (too many distinct ones in a minute).
    pub denials_unattributed: u64,
}

/// Counts taken out of memory and not yet written, merged across failed flushes.
#[derive(Default)]
struct Unwritten {
    denials: HashMap<DenialKey, i64>,
    usage: HashMap<UsageKey, UsageCount>,
    keys: HashMap<Box<str>, KeyUse>,
    samples: Vec<Sample>,
}

/// Which counts a write takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counts {
    /// Every one (a stop, a flush).
    All,
    /// Those whose hash is this one modulo [`COUNT_SLICES`].
    Slice(u64),
}

impl Counts {
    fn picks(self, hash: u64) -> bool {
        match self {
            Counts::All => true,
            Counts::Slice(slice) => hash % COUNT_SLICES == slice,
        }
    }
}

async fn run(store: Store, shared: Arc<Shared>) {
    let pruner = tokio::spawn(prune_every(store.clone(), PRUNE_EVERY));
    let _stop_pruner = AbortOnDrop(pruner);
    let mut failing_since: Option<std::time::Instant> = None;
    let mut writes: u64 = 0;
    loop {
        tokio::select! {
            () = shared.wake.notified() => {}
            () = tokio::time::sleep(FLUSH_EVERY) => {}
        }
        let stopping = shared.stopping.load(Ordering::Acquire);
        // Taken before the counts, so every decision recorded before a flush() is written.
        let waiting = std::mem::take(&mut *shared.flushes.lock().unwrap_or_else(|e| e.into_inner()));
        let counts = if stopping || !waiting.is_empty() {
            Counts::All
        } else {
            writes += 1;
            Counts::Slice(writes % COUNT_SLICES)
        };
        let mut unwritten = shared.unwritten.lock().await;
        take(&shared, &mut unwritten, Utc::now().timestamp().div_euclid(60), counts);
        let result = flush(&store, &unwritten).await;
        for done in waiting {
            let _ = done.send(result.as_ref().map(|_| ()).map_err(ToString::to_string));
        }
        match result {
            Ok(()) => {
                let written = unwritten.samples.len() as u64;
                shared.stored.fetch_add(written, Ordering::Relaxed);
                shared.held.fetch_sub(written, Ordering::Relaxed);
                *unwritten = Unwritten::default();
                failing_since = None;
            }
            Err(e) => {
                // Once when the failure begins, then every 30 s (the store reports it loudly).
                if failing_since.is_none_or(|t: std::time::Instant| t.elapsed() > Duration::from_secs(30)) {
                    tracing::error!(error = %e, dropped_samples = shared.dropped.load(Ordering::Relaxed),
                        "cannot write the traffic log; will retry (counts are kept; samples past the buffer are dropped, the live monitor had them)");
                    failing_since = Some(std::time::Instant::now());
                }
            }
        }
        drop(unwritten);
        if stopping {
            return;
        }
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Moves the samples memory gathered into `unwritten`, with the counts `counts` picks,
/// forgetting their keys of minutes before the previous one (their sample allowance is spent).
fn take(shared: &Shared, unwritten: &mut Unwritten, now_minute: i64, counts: Counts) {
    let mut tallies = shared.tallies.lock().unwrap_or_else(|e| e.into_inner());
    let Tallies { hasher: _, denials, samples } = &mut *tallies;
    unwritten.samples.append(samples);
    for served in shared.served.all() {
        let mut served = served.lock().unwrap_or_else(|e| e.into_inner());
        let Served { hasher, usage, keys } = &mut *served;
        for (prefix, used) in keys.extract_if(|prefix, _| counts.picks(hasher.hash_one(prefix))) {
            // The same key used on several threads, or counts kept from a write that failed.
            match unwritten.keys.get_mut(&prefix) {
                Some(total) => {
                    total.calls += used.calls;
                    total.credits += used.credits;
                    total.last = total.last.max(used.last);
                }
                None => {
                    unwritten.keys.insert(prefix, used);
                }
            }
        }
        usage.drain(
            counts,
            |key, count| {
                if count.requests > 0 {
                    let total = unwritten.usage.entry(key.clone()).or_default();
                    total.requests += count.requests;
                    total.credits += count.credits;
                    *count = UsageCount::default();
                }
            },
            |key| key.minute >= now_minute - 1,
        );
    }
    denials.drain(
        counts,
        |key, count| {
            if count.requests > 0 {
                *unwritten.denials.entry(key.clone()).or_default() += std::mem::take(&mut count.requests);
            }
        },
        |key| key.minute >= now_minute - 1,
    );
}

pub(crate) fn minute_start(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(minute * 60, 0).unwrap_or_default()
}

async fn flush(store: &Store, unwritten: &Unwritten) -> Result<(), sqlx::Error> {
    if unwritten.denials.is_empty()
        && unwritten.usage.is_empty()
        && unwritten.keys.is_empty()
        && unwritten.samples.is_empty()
    {
        return Ok(());
    }
    let mut tx = store.begin().await?;
    let engine = store.engine();
    for chunk in unwritten.samples.chunks(100) {
        let result = on!(&mut *tx, |c| {
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO denials (at, request_id, tenant, key_prefix, route, method, path, path_truncated, status, code, facts) ",
            );
            insert.push_values(chunk, |mut row, s| {
                row.push_bind(s.at)
                    .push_bind(s.request_id.as_str())
                    .push_bind(s.tenant.as_deref())
                    .push_bind(s.key_prefix.as_deref())
                    .push_bind(s.route.as_deref())
                    .push_bind(&*s.method)
                    .push_bind(s.path.as_str())
                    .push_bind(s.path_truncated)
                    .push_bind(i64::from(s.status))
                    .push_bind(&*s.code)
                    .push_bind(s.facts.as_deref().map(sqlx::types::Json));
            });
            insert.build().execute(c).await.map(|done| done.rows_affected())
        });
        tx.check(result)?;
    }
    let counts: Vec<(&DenialKey, &i64)> = unwritten.denials.iter().collect();
    for chunk in counts.chunks(100) {
        let result = on!(&mut *tx, |c| {
            let mut upsert =
                sqlx::QueryBuilder::new("INSERT INTO denial_minutes (minute, tenant, route, status, code, requests) ");
            upsert.push_values(chunk, |mut row, (key, requests)| {
                row.push_bind(minute_start(key.minute))
                    .push_bind(key.tenant.as_deref())
                    .push_bind(key.route.as_deref())
                    .push_bind(i64::from(key.status))
                    .push_bind(&*key.code)
                    .push_bind(**requests);
            });
            upsert.push(dialects!(engine,
                " ON CONFLICT (minute, " {"ifnull(tenant, ''), ifnull(route, '')", "COALESCE(tenant, ''), COALESCE(route, '')"}
                ", status, code) DO UPDATE SET requests = denial_minutes.requests + excluded.requests"
            ));
            upsert.build().execute(c).await.map(|done| done.rows_affected())
        });
        tx.check(result)?;
    }
    let totals: Vec<(&UsageKey, &UsageCount)> = unwritten.usage.iter().collect();
    for chunk in totals.chunks(100) {
        let result = on!(&mut *tx, |c| {
            let mut upsert =
                sqlx::QueryBuilder::new("INSERT INTO usage_minutes (minute, tenant, route, requests, credits) ");
            upsert.push_values(chunk, |mut row, (key, total)| {
                row.push_bind(minute_start(key.minute))
                    .push_bind(&*key.tenant)
                    .push_bind(&*key.route)
                    .push_bind(total.requests)
                    .push_bind(total.credits);
            });
            upsert.push(
                " ON CONFLICT (minute, tenant, route) DO UPDATE
                  SET requests = usage_minutes.requests + excluded.requests,
                      credits = usage_minutes.credits + excluded.credits",
            );
            upsert.build().execute(c).await.map(|done| done.rows_affected())
        });
        tx.check(result)?;
    }
    let used: Vec<(&Box<str>, &KeyUse)> = unwritten.keys.iter().collect();
    for chunk in used.chunks(100) {
        let result = on!(&mut *tx, |c| {
            let mut update = sqlx::QueryBuilder::new("WITH used (prefix, calls, credits, last, day, month) AS (");
            update.push_values(chunk, |mut row, (prefix, key)| {
                row.push_bind(&***prefix)
                    .push_bind(key.calls)
                    .push_bind(key.credits)
                    .push_bind(whole_seconds(key.last))
                    .push_bind(BudgetPeriod::Day.start(key.last))
                    .push_bind(BudgetPeriod::Month.start(key.last));
            });
            // Times are stored in one format (RFC 3339, UTC), so the text order is time order
            // and equal instants are equal texts. A key's spend counts on within its budget
            // period and starts afresh in a new one (the period of the batch's last call).
            update.push(
                ") UPDATE api_keys SET calls = api_keys.calls + used.calls,
                     last_used_at = CASE WHEN api_keys.last_used_at IS NULL OR api_keys.last_used_at < used.last
                                         THEN used.last ELSE api_keys.last_used_at END,
                     budget_spent = CASE WHEN api_keys.budget_since =
                                             (CASE WHEN api_keys.budget_period = 'day' THEN used.day ELSE used.month END)
                                         THEN api_keys.budget_spent + used.credits ELSE used.credits END,
                     budget_since = CASE WHEN api_keys.budget_period = 'day' THEN used.day ELSE used.month END
                   FROM used WHERE api_keys.prefix = used.prefix",
            );
            update.build().execute(c).await.map(|done| done.rows_affected())
        });
        tx.check(result)?;
    }
    tx.commit().await
}

/// `at` without its fraction of a second: what the operator is shown.
fn whole_seconds(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at)
}

async fn prune_every(store: Store, every: Duration) {
    loop {
        if let Err(e) = prune(&store, Utc::now()).await {
            tracing::warn!(error = %e, "cannot prune old traffic");
        }
        tokio::time::sleep(every).await;
    }
}

/// Removes denial samples, denial counts and usage totals older than the retention the
/// settings give, [`PRUNE_BATCH`] rows per write; returns the samples removed.
pub async fn prune(store: &Store, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    let mut conn = store.reader().await?;
    let days = settings::load(&mut conn).await.map(|s| s.retention_days).unwrap_or(30);
    let cutoff = now - TimeDelta::days(days);
    // Samples arrive in time order: everything before the first one inside the retention
    // goes (or everything, when none is that recent). Found once, on a reader.
    let sql = dialects!(conn.engine(),
        "SELECT COALESCE(
             (SELECT id FROM denials WHERE " {"julianday(at) >= julianday($1)", "at >= $1"} " ORDER BY id LIMIT 1),
             (SELECT MAX(id) + 1 FROM denials))"
    );
    let below: Option<i64> = on!(&mut conn, |c| sqlx::query_scalar(sql).bind(cutoff).fetch_one(c).await)?;
    drop(conn);
    let mut removed = 0;
    if let Some(below) = below {
        let sql = "DELETE FROM denials WHERE id IN (SELECT id FROM denials WHERE id < $1 ORDER BY id LIMIT $2)";
        removed += in_batches(store, sql, below).await?;
    }
    // On SQLite minutes are stored in one format (RFC 3339, UTC, whole seconds), so text
    // order is time order and the indexes that start with the minute serve the range.
    let minute = minute_start(cutoff.timestamp().div_euclid(60));
    let sql = store.engine().pick(
        "DELETE FROM denial_minutes WHERE rowid IN (SELECT rowid FROM denial_minutes WHERE minute < $1 LIMIT $2)",
        "DELETE FROM denial_minutes WHERE ctid IN (SELECT ctid FROM denial_minutes WHERE minute < $1 LIMIT $2)",
    );
    in_batches(store, sql, minute).await?;
    let sql = store.engine().pick(
        "DELETE FROM usage_minutes WHERE rowid IN (SELECT rowid FROM usage_minutes WHERE minute < $1 LIMIT $2)",
        "DELETE FROM usage_minutes WHERE ctid IN (SELECT ctid FROM usage_minutes WHERE minute < $1 LIMIT $2)",
    );
    in_batches(store, sql, minute).await?;
    Ok(removed)
}

/// Runs the delete `sql` with `below` as `$1` and the batch size as `$2` until it removes
/// nothing, each batch its own write, letting other writers in between.
async fn in_batches<T>(store: &Store, sql: &'static str, below: T) -> Result<u64, sqlx::Error>
where
    T: Copy + Send + Sync,
    T: for<'q> sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    T: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    let mut removed = 0;
    loop {
        let mut tx = store.begin().await?;
        let result = on!(&mut *tx, |c| sqlx::query(sql)
            .bind(below)
            .bind(PRUNE_BATCH)
            .execute(c)
            .await
            .map(|done| done.rows_affected()));
        let done = tx.check(result)?;
        tx.commit().await?;
        removed += done;
        if done < PRUNE_BATCH as u64 {
            return Ok(removed);
        }
        tokio::task::yield_now().await;
    }
}

/// A stored denial: one of the first few of its kind in its minute, kept whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Denial {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub request_id: String,
    pub tenant: Option<String>,
    pub key_prefix: Option<String>,
    pub route: Option<String>,
    pub method: String,
    /// The request's path, cut to 512 bytes (see `path_truncated`).
    pub path: String,
    /// The path was longer than what is kept.
    pub path_truncated: bool,
    pub status: i64,
    pub code: String,
    #[sqlx(json(nullable))]
    #[schema(value_type = Option<Object>)]
    pub facts: Option<serde_json::Value>,
}

/// `denial.list`: stored denial samples, newest first.
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

/// Denials of one kind in one minute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct DenialMinute {
    pub minute: DateTime<Utc>,
    /// Absent for requests without a usable key (and for those counted past the cap).
    pub tenant: Option<String>,
    pub route: Option<String>,
    pub status: i64,
    pub code: String,
    pub requests: i64,
}

/// `denial.counts`: every denial, counted per minute, newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct DenialCounts {
    #[cfg_attr(feature = "cli", arg(long))]
    pub tenant: Option<String>,
    /// Only this code, e.g. INSUFFICIENT_CREDITS.
    #[cfg_attr(feature = "cli", arg(long))]
    pub code: Option<String>,
    /// Only minutes at or after this instant (RFC 3339).
    #[cfg_attr(feature = "cli", arg(long))]
    pub since: Option<DateTime<Utc>>,
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
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

/// What the traffic and request logs kept and dropped since this server started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrafficStatus {
    /// False when no gateway runs in this process (the CLI without a server): all zero.
    pub running: bool,
    pub traffic: TrafficStats,
    /// Requests the request log holds (the last this many).
    pub request_log_capacity: u64,
    pub request_log_written: u64,
    /// Request records dropped because the log's writer fell behind.
    pub request_log_dropped: u64,
}

/// `traffic.status`: what the gateway's logs kept and dropped.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct TrafficStatusShow {}

/// The newest `limit` stored denials (of `tenant`, with `code`, before id `before_id`).
pub(crate) async fn denials(
    conn: &mut Connection,
    tenant: Option<&str>,
    code: Option<&str>,
    before_id: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<Denial>> {
    on!(conn, |c| sqlx::query_as::<_, Denial>(
        "SELECT id, at, request_id, tenant, key_prefix, route, method, path, path_truncated, status, code, facts
         FROM denials WHERE ($1 IS NULL OR tenant = $1) AND ($2 IS NULL OR code = $2)
         AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
    )
    .bind(tenant)
    .bind(code)
    .bind(before_id)
    .bind(limit)
    .fetch_all(c)
    .await)
}

/// The newest `limit` denial counts (of `tenant`, with `code`, from minute `since`).
pub(crate) async fn denial_counts(
    conn: &mut Connection,
    tenant: Option<&str>,
    code: Option<&str>,
    since: Option<DateTime<Utc>>,
    limit: i64,
) -> sqlx::Result<Vec<DenialMinute>> {
    on!(conn, |c| sqlx::query_as::<_, DenialMinute>(
        "SELECT minute, tenant, route, status, code, requests FROM denial_minutes
         WHERE ($1 IS NULL OR tenant = $1) AND ($2 IS NULL OR code = $2) AND ($3 IS NULL OR minute >= $3)
         ORDER BY minute DESC, tenant, route, code LIMIT $4",
    )
    .bind(tenant)
    .bind(code)
    .bind(since)
    .bind(limit)
    .fetch_all(c)
    .await)
}

/// The newest `limit` minutes of served traffic (of `tenant`, from `since`).
pub(crate) async fn usage(
    conn: &mut Connection,
    tenant: Option<&str>,
    since: Option<DateTime<Utc>>,
    limit: i64,
) -> sqlx::Result<Vec<UsageMinute>> {
    let sql = dialects!(conn.engine(),
        "SELECT * FROM usage_minutes WHERE ($1 IS NULL OR tenant = $1)
         AND ($2 IS NULL OR " {"julianday(minute) >= julianday($2)", "minute >= $2"} ") ORDER BY minute DESC, tenant, route LIMIT $3"
    );
    on!(conn, |c| sqlx::query_as::<_, UsageMinute>(sql).bind(tenant).bind(since).bind(limit).fetch_all(c).await)
}

/// The stored denial of request `request_id`, if it was kept.
pub(crate) async fn denial_of(conn: &mut Connection, request_id: &str) -> sqlx::Result<Option<Denial>> {
    on!(conn, |c| sqlx::query_as::<_, Denial>(
        "SELECT id, at, request_id, tenant, key_prefix, route, method, path, path_truncated, status, code, facts
         FROM denials WHERE request_id = $1",
    )
    .bind(request_id)
    .fetch_optional(c)
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(at: DateTime<Utc>, key: &str, code: Option<&str>, cost: i64) -> GatewayEvent {
        GatewayEvent {
            at,
            request_id: "req_00000000_000000000001".into(),
            tenant: Some("acme".into()),
            key_prefix: Some(key.into()),
            route: Some("/v1".into()),
            method: "GET".into(),
            path: "/v1/x".into(),
            status: if code.is_some() { 402 } else { 200 },
            code: code.map(|c| c.to_owned().into()),
            cost,
            balance: None,
            latency_us: 1,
            facts: None,
            node: None,
        }
    }

    /// The usage counts `unwritten` holds: (requests, credits).
    fn usage(unwritten: &Unwritten) -> (i64, i64) {
        unwritten.usage.values().fold((0, 0), |(r, c), u| (r + u.requests, c + u.credits))
    }

    #[test]
    fn each_write_takes_the_samples_and_a_slice_of_the_counts_and_a_round_takes_each_count_once() {
        let log = TrafficLog::new(TrafficLimits::default());
        let now = Utc::now();
        let minute = now.timestamp().div_euclid(60);
        let tenants = 300;
        for t in 0..tenants {
            let mut served = event(now, &format!("tg_live_{t}"), None, 2);
            served.tenant = Some(format!("t{t}").into());
            log.record(&served);
            log.record(&served);
        }
        log.record(&event(now, "tg_live_0", Some("INSUFFICIENT_CREDITS"), 0));
        let mut unwritten = log.shared.unwritten.try_lock().unwrap();

        take(&log.shared, &mut unwritten, minute, Counts::Slice(0));
        assert_eq!(unwritten.samples.len(), 1, "the sample goes with the first write");
        let first = unwritten.usage.len();
        assert!(first > 0 && first < tenants, "a slice of the usage rows, not all of them: {first}");
        assert!(unwritten.keys.len() < tenants, "a slice of the keys");
        // What was not taken is still found in memory: nothing missing, nothing twice.
        let held = WritesHeld { shared: &log.shared, unwritten };
        let found = held.pending().usage.iter().fold((0, 0), |(r, c), u| (r + u.2, c + u.3));
        let mut unwritten = held.unwritten;
        assert_eq!(found, (600, 1200), "every served request once, taken or not");

        for slice in 1..COUNT_SLICES {
            take(&log.shared, &mut unwritten, minute, Counts::Slice(slice));
        }
        assert_eq!(usage(&unwritten), (600, 1200), "after a round, every served request, once");
        assert_eq!(unwritten.usage.len(), tenants, "one row per (minute, tenant, route)");
        assert_eq!(unwritten.keys.len(), tenants);
        assert_eq!(unwritten.keys["tg_live_0"].calls, 3, "every call of the key");
        assert_eq!(unwritten.denials.values().sum::<i64>(), 1);
        take(&log.shared, &mut unwritten, minute, Counts::All);
        assert_eq!(usage(&unwritten), (600, 1200), "taken once, not twice");
        log.record(&event(now, "tg_live_0", None, 2));
        take(&log.shared, &mut unwritten, minute, Counts::All);
        assert_eq!(usage(&unwritten), (601, 1202), "a flush or stop takes whatever came since");
        let key = unwritten.keys["tg_live_0"];
        assert_eq!((key.calls, key.credits), (4, 6), "a key's later use joins what is unwritten, credits too");
    }

    #[test]
    fn past_the_cap_a_request_is_counted_without_its_tenant_and_route() {
        let log = TrafficLog::new(TrafficLimits { max_keys: 2, ..TrafficLimits::default() });
        let now = Utc::now();
        for t in 0..3 {
            let mut served = event(now, "tg_live_0", None, 1);
            served.tenant = Some(format!("t{t}").into());
            log.record(&served);
            let mut denied = event(now, "tg_live_0", Some("INSUFFICIENT_CREDITS"), 0);
            denied.tenant = Some(format!("t{t}").into());
            log.record(&denied);
        }
        assert_eq!(log.stats().denials_unattributed, 2, "the third served and the third denied");
        let mut unwritten = log.shared.unwritten.try_lock().unwrap();
        take(&log.shared, &mut unwritten, now.timestamp().div_euclid(60), Counts::All);
        assert_eq!(usage(&unwritten), (3, 3), "none lost");
        assert!(unwritten.usage.keys().any(|k| &*k.tenant == "*"), "the third under `*`");
        assert_eq!(unwritten.denials.values().sum::<i64>(), 3);
        assert!(unwritten.denials.keys().any(|k| k.tenant.is_none()), "the third denial without its tenant");
    }

    #[test]
    fn counts_from_every_gateway_thread_are_read_and_taken_once() {
        let log = TrafficLog::new(TrafficLimits::default());
        let now = Utc::now();
        let minute = now.timestamp().div_euclid(60);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..100 {
                        log.record(&event(now, "tg_live_0", None, 2));
                    }
                    log.record(&event(now, "tg_live_0", Some("INSUFFICIENT_CREDITS"), 0));
                });
            }
        });
        let unwritten = log.shared.unwritten.try_lock().unwrap();
        let held = WritesHeld { shared: &log.shared, unwritten };
        let found = held.pending().usage.iter().fold((0, 0), |(r, c), u| (r + u.2, c + u.3));
        assert_eq!(found, (300, 600), "read from every thread's counts");
        let mut unwritten = held.unwritten;
        take(&log.shared, &mut unwritten, minute, Counts::All);
        assert_eq!(usage(&unwritten), (300, 600));
        assert_eq!(unwritten.usage.len(), 1, "one row for the (minute, tenant, route), whichever thread counted");
        let key = unwritten.keys["tg_live_0"];
        assert_eq!((key.calls, key.credits), (303, 600), "the key's calls and credits from every thread");
        assert_eq!(unwritten.denials.values().sum::<i64>(), 3);
        assert_eq!(unwritten.samples.len(), 3, "the first three of the kind this minute, whichever thread");
    }
}
