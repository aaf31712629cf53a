//! Settlement: served usage on its way to the ledger, so the gateway never waits on the
//! database to decide. It orchestrates only; the ledger writes ([`ledger::charge_usage`],
//! [`journal`]).
//!
//! `batched` charges are added to per-tenant sums in memory (no message, no allocation per
//! request) and a writer task writes them every `usage_flush_ms`: per tenant, its usage
//! entry, carrying the calls it covers. The tenants are written a shard at a time, the
//! shards in turn spread over the interval ([`Rotation`]), so each tenant is still written
//! once per interval but no write holds the (possibly only) CPU for all tenants at once. A
//! crash loses at most the sums not yet written (one interval), in the tenant's favour.
//!
//! `strict` callers hand over their [`Reservation`] and wait: the writer commits concurrent
//! strict charges together, durable on power loss, and answers them. On SQLite that commit
//! appends one strict journal row per tenant ([`journal`]), a page or two, instead of
//! rewriting every tenant's row and usage entry under an fsync; the charges then join the
//! tenants' sums as handed-over usage, and the flush that writes a sum folds its journal
//! rows into the tenant's entry, which records the highest row it took in the same
//! transaction; folded rows are deleted later, a range at a time ([`Folding`]). A crash
//! leaves at most about one interval of unfolded rows, which [`fold_journal`] charges before
//! the next start loads balances.
//! On PostgreSQL (nodes share the database; a crashed node's journal would have no owner)
//! the strict commit writes the usage entries directly. Either way a caller that goes
//! away meanwhile changes nothing: the commit settles its reservation, or it goes back.
//!
//! Neither mode adds a row per request, nor one per tenant per write: each tenant's usage
//! goes into its open usage entry, updated in place while it is the tenant's newest entry
//! and younger than five `usage_flush_ms` intervals (one entry per tenant per 10 s by
//! default), else into a new one. A strict caller learns where its charge is held (the
//! journal row, or the entry), which the gateway puts in the request's record in the
//! request log ([`crate::store::request_log`]): that record is the per-request detail ("was
//! request X charged, to whom, how much"), the journal row and then the entry the money.
//! The record is written (not fsynced) after the commit, so a power loss can lose a strict
//! request's detail but never its charge.
//!
//! When storage fails, strict charges fail at once ([`SettleError`]), and batched sums stay
//! in memory (bounded by the number of tenants) and are written as soon as storage is
//! back. Nothing is ever dropped: a stop that cannot write everything returns what it
//! could not write (the journaled part waits for the next start).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::domain::metrics::{Histogram, HistogramSnapshot};
use crate::live::{Live, Reservation};
use crate::store::ledger::journal::{self, Absorbed};
use crate::store::ledger::{self, Committed, Usage, UsageError};
use crate::store::{Durability, Store};

/// A served request's charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Debit<'a> {
    pub tenant_id: i64,
    /// Credits charged (positive; 0 charges nothing). May be less than the request's
    /// reservation: the rest goes back.
    pub amount: i64,
    /// Named when a strict charge is refused (see `verify`); usage is summed per tenant,
    /// and the request log keeps the per-request detail.
    pub request_id: &'a str,
    pub at: DateTime<Utc>,
}

/// Why a strict charge was not committed; nothing was charged and its reservation went
/// back (or, when the ledger refused it, stays spent in memory, the cautious side).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettleError {
    /// The database refuses writes (disk full, I/O error).
    #[error("storage is failing: {0}")]
    StorageUnavailable(String),
    /// The ledger refused the debit (it would take the stored balance below zero; on
    /// SQLite only a charge the journal's checks refuse, such as of a tenant the database
    /// does not hold: the journal checks no balance, and a fold the ledger refuses is
    /// reported by `verify`).
    #[error("the ledger refused the debit")]
    Refused,
    /// The writer has stopped (the server is shutting down).
    #[error("the settlement writer has stopped")]
    Stopped,
}

/// Charges a stop could not write: what the operator must re-apply by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unwritten {
    pub tenant_id: i64,
    /// Credits served but not in the ledger.
    pub amount: i64,
    pub requests: i64,
}

/// A stop that could not write every pending charge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} charges ({} credits) could not be written to the ledger: {}", self.requests(), self.credits(), self.describe())]
pub struct StopError {
    pub unwritten: Vec<Unwritten>,
}

impl StopError {
    fn requests(&self) -> i64 {
        self.unwritten.iter().map(|u| u.requests).sum()
    }

    fn credits(&self) -> i64 {
        self.unwritten.iter().map(|u| u.amount).sum()
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = self
            .unwritten
            .iter()
            .map(|u| format!("tenant id {} owes {} credits for {} requests", u.tenant_id, u.amount, u.requests))
            .collect();
        parts.join("; ")
    }
}

/// One tenant's usage not yet in the ledger: batched charges, and strict ones already
/// durable in the journal (the rows it names, folded by the write that charges the sum).
#[derive(Debug, Clone)]
struct Sum {
    credits: i64,
    requests: i64,
    /// When the latest of them was served.
    at: DateTime<Utc>,
    /// Strict journal rows among them (empty for batched usage: no allocation).
    journal: Vec<Journaled>,
}

/// A strict journal row a [`Sum`] includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Journaled {
    id: i64,
    credits: i64,
    requests: i64,
}

impl Sum {
    fn add(&mut self, other: Sum) {
        self.credits += other.credits;
        self.requests += other.requests;
        self.at = self.at.max(other.at);
        self.journal.extend(other.journal);
    }

    /// Credits and calls not in the journal: what a crash would lose.
    fn volatile(&self) -> (i64, i64) {
        let (credits, requests) = self.journal.iter().fold((0, 0), |(c, r), j| (c + j.credits, r + j.requests));
        (self.credits - credits, self.requests - requests)
    }
}

type Sums = HashMap<i64, Sum>;

fn merge(into: &mut Sums, from: impl IntoIterator<Item = (i64, Sum)>) {
    for (tenant_id, sum) in from {
        match into.entry(tenant_id) {
            std::collections::hash_map::Entry::Occupied(mut held) => held.get_mut().add(sum),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(sum);
            }
        }
    }
}

/// The batched sums the gateway adds to, split by tenant id so concurrent requests of
/// different tenants rarely meet on a lock.
#[derive(Debug)]
struct Shards([Mutex<Shard>; SHARDS]);

const SHARDS: usize = 16;

/// Consecutive tenant ids that share a shard. A shard is written on its own, so it holds
/// runs of neighbours: its write touches a few adjacent pages of `tenants`, `subscriptions`
/// and the ledger's tenant index, not a row on nearly every page (as `id % 16` would, making
/// sixteen writes put sixteen times the pages into the WAL of one write of every tenant).
const TENANTS_PER_RUN: i64 = 64;

/// The shard a tenant's sums are kept in.
fn shard_of(tenant_id: i64) -> usize {
    tenant_id.div_euclid(TENANTS_PER_RUN).rem_euclid(SHARDS as i64) as usize
}

#[derive(Debug, Default)]
struct Shard {
    /// Set by a stop once it took the last sums: later charges are counted lost.
    closed: bool,
    sums: Sums,
}

impl Shards {
    fn lock(&self, tenant_id: i64) -> MutexGuard<'_, Shard> {
        let shard = &self.0[shard_of(tenant_id)];
        shard.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a charge; false once closed.
    fn add(&self, tenant_id: i64, sum: Sum) -> bool {
        let mut shard = self.lock(tenant_id);
        if shard.closed {
            return false;
        }
        merge(&mut shard.sums, [(tenant_id, sum)]);
        true
    }

    /// Moves every sum into `into`; with `close`, no charge is taken after this.
    fn take(&self, into: &mut Sums, close: bool) {
        for index in 0..SHARDS {
            self.take_shard(index, into, close);
        }
    }

    /// Moves the sums of shard `index` into `into`.
    fn take_shard(&self, index: usize, into: &mut Sums, close: bool) {
        let mut shard = self.0[index].lock().unwrap_or_else(|p| p.into_inner());
        shard.closed |= close;
        merge(into, shard.sums.drain());
    }
}

/// When each shard's sums are due: shard `k` of a round at `start + every × (k + 1) / SHARDS`,
/// so a round of one interval writes every shard once, a sixteenth of the tenants at a
/// time. The interval is read at each step, so a changed setting applies at once.
#[derive(Debug, Clone, Copy)]
struct Rotation {
    start: tokio::time::Instant,
    /// The next shard of this round.
    next: usize,
}

impl Rotation {
    fn new(start: tokio::time::Instant) -> Self {
        Self { start, next: 0 }
    }

    /// When the next shard is due.
    fn next_due(&self, every: Duration) -> tokio::time::Instant {
        self.start + every * (self.next as u32 + 1) / SHARDS as u32
    }

    /// The shards due at `now` (none, one, or several when the writer was held up), and
    /// moves past them. A round that fell a whole interval behind (storage failing, a
    /// stalled writer) starts again from `now` rather than catching up in a burst.
    fn due(&mut self, now: tokio::time::Instant, every: Duration) -> std::ops::Range<usize> {
        let first = self.next;
        while self.next < SHARDS && now >= self.next_due(every) {
            self.next += 1;
        }
        let due = first..self.next;
        if self.next == SHARDS {
            self.start += every;
            self.next = 0;
            if now >= self.start + every {
                self.start = now;
            }
        }
        due
    }
}

struct StrictCharge {
    tenant_id: i64,
    amount: i64,
    request_id: String,
    at: DateTime<Utc>,
    /// Taken by the writer when it writes the charge.
    reservation: Option<Reservation>,
    /// Where the charge is held, once committed.
    done: oneshot::Sender<Result<Committed, SettleError>>,
}

enum Message {
    Strict(StrictCharge),
    Flush(oneshot::Sender<Result<(), SettleError>>),
    Stop(oneshot::Sender<Result<(), StopError>>),
}

/// Hands charges to the writer task; cheap to clone.
#[derive(Clone, Debug)]
pub struct Settlement {
    tx: mpsc::Sender<Message>,
    sums: Arc<Shards>,
    store: Store,
    /// Batched charges handed over after the writer stopped (a bug if ever non-zero).
    lost: Arc<AtomicU64>,
    commits: Arc<Commits>,
}

/// How long the writer's commits took, batched and strict apart (for `/metrics`).
#[derive(Debug, Default)]
struct Commits {
    batched: Histogram,
    strict: Histogram,
}

/// Strict charges and commands waiting for the writer. Strict callers wait for their
/// answer, so at most one message per request in flight is queued; past this bound they
/// wait to be queued too.
const QUEUE: usize = 8192;

/// Most strict charges, or tenants' sums, written in one transaction.
const MAX_BATCH: usize = 4096;

/// Flush intervals a usage entry stays open for (10 s by default): each new entry costs
/// the database a row and its index entries (about 5 bytes per request at one entry per
/// tenant per 2 s flush, measured with 1,000 tenants), while adding to an open one changes
/// a row in place. Strict commits come many times a second, batched flushes every interval.
const ENTRY_INTERVALS: u32 = 5;

/// How often batched usage is written when no live state gives the setting.
const DEFAULT_FLUSH: Duration = Duration::from_millis(1000);

/// First wait before writing again after a storage failure; doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(2);

/// How long a stop keeps trying to write what is pending before it reports it unwritten.
const STOP_PATIENCE: Duration = Duration::from_secs(5);

impl Settlement {
    /// Starts the writer task on the current runtime; batched usage is written every
    /// second.
    pub fn spawn(store: Store) -> (Self, JoinHandle<()>) {
        Self::spawn_with(store, None)
    }

    /// Starts the writer task for the gateway deciding from `live`: batched charges
    /// handed over ([`Reservation::hand_over_part`]) leave its unwritten count as they are
    /// committed, so reconciliation can check every balance against the database, and
    /// its settings give the flush interval (`usage_flush_ms`).
    pub fn spawn_with(store: Store, live: Option<Arc<Live>>) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let sums = Arc::new(Shards(std::array::from_fn(|_| Mutex::default())));
        let commits = Arc::new(Commits::default());
        let settlement =
            Self { tx, sums: sums.clone(), store: store.clone(), lost: Arc::default(), commits: commits.clone() };
        (settlement, tokio::spawn(run(Writer::new(store, live, sums, commits), rx)))
    }

    /// True while the database refuses writes: strict requests are then refused before
    /// they are forwarded.
    pub fn storage_failing(&self) -> bool {
        self.store.health().is_failing()
    }

    /// Adds a charge whose reservation the caller already handed over (`batched`
    /// durability) to its tenant's sum; the writer writes it with the next flush.
    pub fn record(&self, debit: Debit<'_>) {
        if debit.amount <= 0 {
            return;
        }
        let sum = Sum { credits: debit.amount, requests: 1, at: debit.at, journal: Vec::new() };
        if !self.sums.add(debit.tenant_id, sum) {
            self.lost.fetch_add(1, Ordering::Relaxed);
            tracing::error!(?debit, "a charge arrived after the settlement writer stopped and is NOT in the ledger");
        }
    }

    /// Charges `debit` and waits until it is committed durably (`strict`). The writer
    /// charges `debit.amount` of `reservation` on commit (the rest goes back) and lets it
    /// all go otherwise, even if this future is dropped meanwhile. Answers where the charge
    /// is held (`None` when there was nothing to charge), for the request's record.
    pub async fn record_durably(
        &self,
        debit: Debit<'_>,
        reservation: Reservation,
    ) -> Result<Option<Committed>, SettleError> {
        if debit.amount <= 0 {
            reservation.spend_part(0);
            return Ok(None);
        }
        let (done, committed) = oneshot::channel();
        let charge = StrictCharge {
            tenant_id: debit.tenant_id,
            amount: debit.amount.min(reservation.cost()),
            request_id: debit.request_id.to_owned(),
            at: debit.at,
            reservation: Some(reservation),
            done,
        };
        if self.tx.send(Message::Strict(charge)).await.is_err() {
            return Err(SettleError::Stopped); // the message, reservation included, was dropped: released
        }
        committed.await.unwrap_or(Err(SettleError::Stopped)).map(Some)
    }

    /// Writes the usage summed so far now (batched sums, and strict ones still in the
    /// journal), and waits until it is (or fails).
    pub async fn flush(&self) -> Result<(), SettleError> {
        let (done, flushed) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_err() {
            return Err(SettleError::Stopped);
        }
        flushed.await.unwrap_or(Err(SettleError::Stopped))
    }

    /// Batched charges that arrived after the writer stopped.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// How long the writer's successful commits took, from `BEGIN` to `COMMIT` returning:
    /// `batched` flushes (one per shard of tenants) and `strict` group commits.
    pub fn commit_latency(&self, durability: crate::store::settings::Durability) -> HistogramSnapshot {
        match durability {
            crate::store::settings::Durability::Batched => self.commits.batched.snapshot(),
            crate::store::settings::Durability::Strict => self.commits.strict.snapshot(),
        }
    }

    /// Strict charges and commands waiting for the writer, and how many may wait.
    pub fn queue(&self) -> (usize, usize) {
        (self.tx.max_capacity() - self.tx.capacity(), self.tx.max_capacity())
    }

    /// Writes everything summed or queued so far and stops the task; for a clean shutdown.
    /// Gives up after a few seconds of storage failures and says what it could not write.
    pub async fn stop(&self) -> Result<(), StopError> {
        let (done, stopped) = oneshot::channel();
        if self.tx.send(Message::Stop(done)).await.is_err() {
            return Ok(()); // already stopped
        }
        stopped.await.unwrap_or(Ok(()))
    }
}

/// The writer task's side: where it writes, the sums it takes from, the live state it
/// keeps in step (when a gateway runs), and the tenants' open usage entries.
struct Writer {
    store: Store,
    live: Option<Arc<Live>>,
    sums: Arc<Shards>,
    /// Per tenant, the usage entry writes add to and when it opened; only the
    /// writer task touches it (a lock only so the task is `Send`). Forgotten once older
    /// than five flush intervals, so it holds the tenants of the last 10 s (by default) at most.
    open: Mutex<HashMap<i64, (i64, tokio::time::Instant)>>,
    commits: Arc<Commits>,
    /// The highest strict journal row handed to `sums`.
    journaled: AtomicI64,
    folding: Mutex<Folding>,
}

/// How far the journal's rows may be deleted. A shard taken when `journaled` was J held
/// every row up to J of its tenants; once what was taken is written (nothing pending),
/// those are folded. Rows up to the lowest such J of all shards are then folded, and
/// deleting them is one range: at each shard's write, so the journal holds about one
/// flush interval of rows.
#[derive(Debug, Default)]
struct Folding {
    /// Per shard, `journaled` at its last take.
    taken: [i64; SHARDS],
    /// Per shard, `journaled` at its last take that has since been written.
    written: [i64; SHARDS],
    /// Rows up to here are deleted.
    forgotten: i64,
}

impl Writer {
    fn new(store: Store, live: Option<Arc<Live>>, sums: Arc<Shards>, commits: Arc<Commits>) -> Self {
        Self {
            store,
            live,
            sums,
            open: Mutex::default(),
            commits,
            journaled: AtomicI64::new(0),
            folding: Mutex::default(),
        }
    }

    /// A writer of its own, with no gateway and no sums yet: to fold what a crash left.
    fn detached(store: Store) -> Self {
        Self::new(store, None, Arc::new(Shards(std::array::from_fn(|_| Mutex::default()))), Arc::default())
    }

    fn folding(&self) -> MutexGuard<'_, Folding> {
        self.folding.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes every shard's sums.
    fn take_all(&self, pending: &mut Sums, close: bool) {
        let journaled = self.journaled.load(Ordering::Acquire);
        self.sums.take(pending, close);
        self.folding().taken = [journaled; SHARDS];
    }

    /// Takes shard `index`'s sums.
    fn take_shard(&self, index: usize, pending: &mut Sums) {
        let journaled = self.journaled.load(Ordering::Acquire);
        self.sums.take_shard(index, pending, false);
        self.folding().taken[index] = journaled;
    }

    /// The open entries of `tenants` still young enough to add to (forgetting the old).
    fn open_entries(&self, tenants: impl Iterator<Item = i64>) -> HashMap<i64, i64> {
        let every = self.every() * ENTRY_INTERVALS;
        let now = tokio::time::Instant::now();
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|_, (_, opened)| now.duration_since(*opened) < every);
        tenants.filter_map(|t| open.get(&t).map(|(entry, _)| (t, *entry))).collect()
    }

    /// Remembers the entries a commit wrote to: a new one opens now, a continued one keeps
    /// its time.
    fn opened(&self, entries: &HashMap<i64, i64>) {
        let now = tokio::time::Instant::now();
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        for (tenant_id, entry) in entries {
            match open.get(tenant_id) {
                Some((held, _)) if held == entry => {}
                _ => {
                    open.insert(*tenant_id, (*entry, now));
                }
            }
        }
    }

    fn every(&self) -> Duration {
        self.live.as_ref().map_or(DEFAULT_FLUSH, |live| {
            Duration::from_millis(u64::try_from(live.settings().usage_flush_ms).unwrap_or(2000).max(1))
        })
    }

    /// What memory does once `usage` is committed (or refused for good): it leaves the
    /// unwritten count. Run by the write itself, before its connection serves anyone
    /// else, so reconciliation (which reads on that connection) never sees the database
    /// ahead of memory.
    fn written(&self, usage: &[Usage]) -> impl FnOnce() + Send + 'static {
        let live = self.live.clone();
        let amounts: Vec<(i64, i64)> = match live {
            Some(_) => usage.iter().map(|u| (u.tenant_id, u.credits)).collect(),
            None => Vec::new(),
        };
        move || {
            if let Some(live) = live {
                for (tenant_id, amount) in amounts {
                    live.written(tenant_id, amount);
                }
            }
        }
    }
}

/// A strict caller's reservation with the amount to charge of it, shared with the write
/// that may charge it: a write that fails drops its hook and leaves the reservation here
/// for a retry or a release.
type Slot = Arc<Mutex<Option<(Reservation, i64)>>>;

/// What becomes of a slot's reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Charged in the ledger: spent.
    Spend,
    /// Charged in the journal: spent in memory and unwritten until the fold commits.
    HandOver,
    /// Not charged: the credits go back.
    Release,
}

fn settle_on_commit(slots: Vec<Slot>, outcome: Outcome) -> impl FnOnce() + Send + 'static {
    move || {
        for slot in slots {
            settle_slot(&slot, outcome);
        }
    }
}

/// Settles what a slot still holds.
fn settle_slot(slot: &Slot, outcome: Outcome) {
    if let Some((r, amount)) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
        match outcome {
            Outcome::Spend => drop(r.spend_part(amount)),
            Outcome::HandOver => drop(r.hand_over_part(amount)),
            Outcome::Release => drop(r),
        }
    }
}

/// While writes fail: when to try again, and what to say about it (once when it begins,
/// then at most every [`REPORT_EVERY`], never once per charge).
struct Outage {
    next_try: tokio::time::Instant,
    retry: Duration,
    last_report: tokio::time::Instant,
    attempts: u64,
}

/// How often a continuing outage is reported in the log.
const REPORT_EVERY: Duration = Duration::from_secs(30);

impl Outage {
    fn begin(error: &sqlx::Error, pending: &Sums) -> Self {
        tracing::error!(%error, tenants = pending.len(), requests = requests(pending),
            "cannot write usage to the ledger; charges wait in memory (summed per tenant) and are retried");
        let now = tokio::time::Instant::now();
        Self { next_try: now + FIRST_RETRY, retry: FIRST_RETRY, last_report: now, attempts: 1 }
    }

    fn failed_again(&mut self, error: &sqlx::Error, pending: &Sums) {
        let now = tokio::time::Instant::now();
        self.attempts += 1;
        self.retry = (self.retry * 2).min(MAX_RETRY);
        self.next_try = now + self.retry;
        if now.duration_since(self.last_report) >= REPORT_EVERY {
            self.last_report = now;
            tracing::error!(%error, attempts = self.attempts, tenants = pending.len(), requests = requests(pending),
                "still cannot write usage to the ledger");
        }
    }
}

fn requests(sums: &Sums) -> i64 {
    sums.values().map(|s| s.requests).sum()
}

async fn run(w: Writer, mut rx: mpsc::Receiver<Message>) {
    // Taken from the shards and not yet written (storage failing).
    let mut pending = Sums::new();
    let mut outage: Option<Outage> = None;
    let mut rotation = Rotation::new(tokio::time::Instant::now());
    let mut next_probe = tokio::time::Instant::now();
    let mut probe_retry = FIRST_RETRY;
    let mut health = w.store.health().subscribe();
    loop {
        // Read each time round, so a changed setting applies at once.
        let next_flush = rotation.next_due(w.every());
        let probing = pending.is_empty() && outage.is_none() && w.store.health().is_failing();
        let wake = match &outage {
            Some(o) => o.next_try,
            None if probing => next_flush.min(next_probe),
            None => next_flush,
        };
        let message = tokio::select! {
            m = rx.recv() => m,
            () = tokio::time::sleep_until(wake) => {
                let now = tokio::time::Instant::now();
                let due = match &outage {
                    // Retrying: everything taken so far, and what came since.
                    Some(o) if now >= o.next_try => {
                        w.take_all(&mut pending, false);
                        true
                    }
                    Some(_) => false,
                    None => take_due(&w, &mut rotation, now, &mut pending),
                };
                if due && !pending.is_empty() {
                    let _ = flush(&w, &mut pending, &mut outage).await; // logged by the outage
                    forget_folded(&w, &pending).await;
                } else if pending.is_empty() && w.store.health().is_failing() && now >= next_probe {
                    // Strict requests are refused while storage fails: find out when it is back.
                    match w.store.probe().await {
                        Ok(()) => probe_retry = FIRST_RETRY,
                        Err(_) => probe_retry = (probe_retry * 2).min(MAX_RETRY),
                    }
                    next_probe = tokio::time::Instant::now() + probe_retry;
                }
                continue;
            }
            // A console write met a failure: start probing (the loop recomputes its wake).
            Ok(()) = health.changed() => continue,
        };
        let Some(first) = message else {
            // Every sender is gone: write what is left, as a stop would.
            w.take_all(&mut pending, true);
            match flush_for_stop(&w, &mut pending).await {
                Ok(()) => forget_folded(&w, &pending).await,
                Err(e) => tracing::error!(error = %e, "the settlement writer ended with charges unwritten"),
            }
            return;
        };
        // Strict charges queued together are committed together.
        let mut strict = Vec::new();
        let mut commands = Vec::new();
        let mut next = Some(first);
        while let Some(m) = next {
            match m {
                Message::Strict(c) => strict.push(c),
                other => commands.push(other),
            }
            next = if strict.len() < MAX_BATCH { rx.try_recv().ok() } else { None };
        }
        settle_strict(&w, &mut strict).await;
        for command in commands {
            match command {
                Message::Strict(_) => unreachable!("gathered above"),
                Message::Flush(done) => {
                    w.take_all(&mut pending, false);
                    let result = flush(&w, &mut pending, &mut outage).await;
                    forget_folded(&w, &pending).await;
                    let _ = done.send(result.map_err(|e| SettleError::StorageUnavailable(e.to_string())));
                }
                Message::Stop(done) => {
                    // Stopping: strict charges still queued go in too, then every sum.
                    rx.close();
                    let mut strict = Vec::new();
                    while let Ok(m) = rx.try_recv() {
                        match m {
                            Message::Strict(c) => strict.push(c),
                            Message::Flush(d) => drop(d), // answered Stopped
                            Message::Stop(d) => {
                                let _ = d.send(Ok(()));
                            }
                        }
                    }
                    settle_strict(&w, &mut strict).await;
                    w.take_all(&mut pending, true);
                    let stopped = flush_for_stop(&w, &mut pending).await;
                    if stopped.is_ok() {
                        forget_folded(&w, &pending).await;
                    }
                    let _ = done.send(stopped);
                    return;
                }
            }
        }
    }
}

/// Takes the sums of the shards `rotation` says are due at `now`; false when none is.
fn take_due(w: &Writer, rotation: &mut Rotation, now: tokio::time::Instant, pending: &mut Sums) -> bool {
    let shards = rotation.due(now, w.every());
    for index in shards.clone() {
        w.take_shard(index, pending);
    }
    !shards.is_empty()
}

/// Deletes the journal's folded rows once nothing taken is pending, in one range. A
/// failure is only logged; the next write deletes them.
async fn forget_folded(w: &Writer, pending: &Sums) {
    if !pending.is_empty() {
        return;
    }
    let through = {
        let mut folding = w.folding();
        folding.written = folding.taken;
        let through = folding.written.iter().copied().min().unwrap_or(0);
        if through <= folding.forgotten {
            return;
        }
        through
    };
    let deleted = async {
        let mut write = w.store.begin_with(Durability::Crash).await?;
        journal::forget_through(&mut write, through).await?;
        write.commit().await
    }
    .await;
    match deleted {
        Ok(()) => w.folding().forgotten = through,
        Err(e) => tracing::warn!(error = %e, "cannot delete folded strict journal rows yet"),
    }
}

/// Writes `pending`, keeping the outage state; what cannot be written stays pending.
async fn flush(w: &Writer, pending: &mut Sums, outage: &mut Option<Outage>) -> Result<(), sqlx::Error> {
    match write_pending(w, pending).await {
        Ok(()) => {
            if let Some(o) = outage.take() {
                tracing::warn!(attempts = o.attempts, "usage held in memory is written to the ledger again");
            }
            Ok(())
        }
        Err(e) => {
            match outage {
                Some(o) => o.failed_again(&e, pending),
                None => *outage = Some(Outage::begin(&e, pending)),
            }
            Err(e)
        }
    }
}

/// Writes one entry per tenant in `pending`, [`MAX_BATCH`] tenants per transaction; what
/// is written leaves `pending`, the rest stays on a storage failure. A tenant's sum the
/// ledger refuses is recorded for `verify` and not retried.
async fn write_pending(w: &Writer, pending: &mut Sums) -> Result<(), sqlx::Error> {
    let usage: Vec<Usage> = pending
        .iter()
        .map(|(tenant_id, s)| Usage { tenant_id: *tenant_id, credits: s.credits, requests: s.requests, at: s.at })
        .collect();
    for batch in usage.chunks(MAX_BATCH) {
        let absorbed = absorbed_of(pending, batch);
        match write_usage(w, batch, &absorbed, Durability::Crash, w.written(batch)).await {
            Ok(_) => {}
            Err(UsageError::Storage(e)) => return Err(e),
            Err(UsageError::Refused) => {
                // One tenant at a time, so one refused sum does not hold up the others.
                for u in batch {
                    let one = std::slice::from_ref(u);
                    let absorbed = absorbed_of(pending, one);
                    match write_usage(w, one, &absorbed, Durability::Crash, w.written(one)).await {
                        Ok(_) => {}
                        Err(UsageError::Refused) => {
                            // Kept pending until the refusal is on record: its journal rows
                            // must not be deleted, nor folded again, without it.
                            record_refused(&w.store, u, None, &absorbed.rows).await?;
                            w.written(one)();
                        }
                        Err(UsageError::Storage(e)) => return Err(e),
                    }
                    pending.remove(&u.tenant_id);
                }
            }
        }
        for u in batch {
            pending.remove(&u.tenant_id);
        }
    }
    Ok(())
}

/// The strict journal rows the sums of `batch`'s tenants include: the write that charges
/// them folds them.
fn absorbed_of(pending: &Sums, batch: &[Usage]) -> Absorbed {
    let mut absorbed = Absorbed::default();
    for u in batch {
        for j in pending.get(&u.tenant_id).map_or(&[][..], |s| &s.journal[..]) {
            absorbed.add(u.tenant_id, j.id);
        }
    }
    absorbed
}

/// One transaction charging `usage` (and folding the journal rows it `absorbed`), adding
/// to the tenants' open entries where it can and remembering the entries it wrote to;
/// `on_commit` runs right after it commits. Answers each tenant's entry id.
async fn write_usage(
    w: &Writer,
    usage: &[Usage],
    absorbed: &Absorbed,
    durability: Durability,
    on_commit: impl FnOnce() + Send + 'static,
) -> Result<HashMap<i64, i64>, UsageError> {
    let started = std::time::Instant::now();
    let open = w.open_entries(usage.iter().map(|u| u.tenant_id));
    let mut write = w.store.begin_with(durability).await.map_err(UsageError::Storage)?;
    write.after_commit(on_commit);
    let entries = ledger::charge_usage(&mut write, usage, &open, absorbed).await?;
    write.commit().await.map_err(UsageError::Storage)?;
    w.opened(&entries);
    let took = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    match durability {
        Durability::PowerLoss => w.commits.strict.observe_us(took),
        _ => w.commits.batched.observe_us(took),
    }
    Ok(entries)
}

/// Commits the strict charges durably (on power loss too) together and answers each
/// caller with where its charge is; on a storage failure every one of them fails at once
/// and its credits go back.
///
/// On SQLite the charges go into the journal (one row per tenant) and join the tenants'
/// sums, which the next flush folds into the ledger; on PostgreSQL, which several nodes
/// share, into the tenants' usage entries directly.
async fn settle_strict(w: &Writer, strict: &mut Vec<StrictCharge>) {
    if strict.is_empty() {
        return;
    }
    let slots: Vec<Slot> =
        strict.iter_mut().map(|c| Arc::new(Mutex::new(c.reservation.take().map(|r| (r, c.amount))))).collect();
    let mut per_tenant: HashMap<i64, Usage> = HashMap::new();
    for c in strict.iter() {
        let u = per_tenant.entry(c.tenant_id).or_insert(Usage {
            tenant_id: c.tenant_id,
            credits: 0,
            requests: 0,
            at: c.at,
        });
        u.credits += c.amount;
        u.requests += 1;
        u.at = u.at.max(c.at);
    }
    let usage: Vec<Usage> = per_tenant.into_values().collect();
    match commit_strict(w, &usage, slots.clone()).await {
        Ok(held) => {
            for (c, slot) in strict.drain(..).zip(&slots) {
                debug_assert!(slot.lock().unwrap_or_else(|p| p.into_inner()).is_none(), "settled by the commit");
                let _ = c.done.send(Ok(held[&c.tenant_id]));
            }
        }
        Err(UsageError::Storage(e)) => {
            let message = e.to_string();
            for (c, slot) in strict.drain(..).zip(&slots) {
                settle_slot(slot, Outcome::Release); // nothing was charged
                let _ = c.done.send(Err(SettleError::StorageUnavailable(message.clone())));
            }
        }
        Err(UsageError::Refused) => {
            // One by one, so one refused charge does not fail the others.
            for (c, slot) in strict.drain(..).zip(slots) {
                let usage = [Usage { tenant_id: c.tenant_id, credits: c.amount, requests: 1, at: c.at }];
                let result = match commit_strict(w, &usage, vec![slot.clone()]).await {
                    Ok(held) => Ok(held[&c.tenant_id]),
                    Err(UsageError::Storage(e)) => Err(SettleError::StorageUnavailable(e.to_string())),
                    Err(UsageError::Refused) => {
                        let _ = record_refused(&w.store, &usage[0], Some(&c.request_id), &[]).await; // logged
                        Err(SettleError::Refused)
                    }
                };
                // A refused charge stays spent in memory (the cautious side; reconciliation
                // then takes the database's figure).
                let outcome = if result.is_err() && !matches!(result, Err(SettleError::Refused)) {
                    Outcome::Release
                } else {
                    Outcome::Spend
                };
                settle_slot(&slot, outcome);
                let _ = c.done.send(result);
            }
        }
    }
}

/// One durable commit of strict `usage` (one per tenant); the commit settles `slots`.
async fn commit_strict(w: &Writer, usage: &[Usage], slots: Vec<Slot>) -> Result<HashMap<i64, Committed>, UsageError> {
    let started = std::time::Instant::now();
    // Memory follows the commit: the reservations become unwritten usage and the rows join
    // their tenants' sums, to be folded by the flush that writes those.
    let hand_over = settle_on_commit(slots.clone(), Outcome::HandOver);
    let journaled = |rows: HashMap<i64, i64>| {
        hand_over();
        w.journaled.fetch_max(rows.values().copied().max().unwrap_or(0), Ordering::AcqRel);
        for u in usage {
            let row = Journaled { id: rows[&u.tenant_id], credits: u.credits, requests: u.requests };
            let sum = Sum { credits: u.credits, requests: u.requests, at: u.at, journal: vec![row] };
            if !w.sums.add(u.tenant_id, sum) {
                // Stopped meanwhile: the row stays in the journal, and the next start folds it.
                tracing::warn!(u.tenant_id, "strict usage journaled after the writer stopped; the next start folds it");
            }
        }
        rows
    };
    let Some(journaled) = journal::append(&w.store, usage, journaled).await else {
        // PostgreSQL: into the tenants' usage entries directly.
        let hook = settle_on_commit(slots, Outcome::Spend);
        let entries = write_usage(w, usage, &Absorbed::default(), Durability::PowerLoss, hook).await?;
        return Ok(entries.into_iter().map(|(tenant_id, entry)| (tenant_id, Committed::Entry(entry))).collect());
    };
    let rows = journaled?;
    w.commits.strict.observe_us(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
    Ok(rows.into_iter().map(|(tenant_id, id)| (tenant_id, Committed::Journal(id))).collect())
}

/// Folds what the strict journal holds into the ledger: what a crash (or a stop that could
/// not write) left. For a process about to load balances, before any gateway runs: a running
/// writer's sums would charge the same rows. Answers the rows and credits folded; a row the
/// ledger refuses is recorded for `verify`, as a refused flush is.
pub async fn fold_journal(store: &Store) -> Result<(usize, i64), sqlx::Error> {
    let (rows, last) = journal::unfolded(&mut store.reader().await?).await?;
    let Some(last) = last else { return Ok((0, 0)) };
    let mut pending = Sums::new();
    for r in &rows {
        let row = Journaled { id: r.id, credits: r.credits, requests: r.requests };
        let at = DateTime::from_timestamp_millis(r.at_ms).unwrap_or_default();
        let sum = Sum { credits: r.credits, requests: r.requests, at, journal: vec![row] };
        merge(&mut pending, [(r.tenant_id, sum)]);
    }
    let w = Writer::detached(store.clone());
    write_pending(&w, &mut pending).await?;
    // Folded (now, or by the entries that already reached them): gone in one range.
    let mut write = store.begin_with(Durability::Crash).await?;
    journal::forget_through(&mut write, last).await?;
    write.commit().await?;
    Ok((rows.len(), rows.iter().map(|r| r.credits).sum()))
}

/// A stop's last attempts: retries for a few seconds, then reports what is left.
async fn flush_for_stop(w: &Writer, pending: &mut Sums) -> Result<(), StopError> {
    let deadline = tokio::time::Instant::now() + STOP_PATIENCE;
    let mut retry = FIRST_RETRY;
    while !pending.is_empty() {
        match write_pending(w, pending).await {
            Ok(()) => break,
            Err(e) if tokio::time::Instant::now() + retry < deadline => {
                tracing::error!(error = %e, "cannot write the last charges; retrying before stopping");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(MAX_RETRY);
            }
            Err(e) => {
                let error = StopError { unwritten: unwritten(pending) };
                tracing::error!(error = %e, unwritten = ?error.unwritten, "stopping with charges NOT written to the ledger");
                return Err(error);
            }
        }
    }
    Ok(())
}

/// What a stop leaves unwritten that nothing will write: the batched part of each sum (the
/// strict part is in the journal, which the next start folds).
fn unwritten(pending: &Sums) -> Vec<Unwritten> {
    let mut list: Vec<Unwritten> = pending
        .iter()
        .map(|(tenant_id, s)| (tenant_id, s.volatile()))
        .filter(|(_, (amount, _))| *amount > 0)
        .map(|(tenant_id, (amount, requests))| Unwritten { tenant_id: *tenant_id, amount, requests })
        .collect();
    list.sort_by_key(|u| u.tenant_id);
    list
}

/// Keeps a refused charge where `verify` reports it, and drops the journal `rows` it
/// included, in one write; logged either way, and the storage error returned.
async fn record_refused(
    store: &Store,
    usage: &Usage,
    request_id: Option<&str>,
    rows: &[i64],
) -> Result<(), sqlx::Error> {
    tracing::error!(
        ?usage,
        request_id,
        "the ledger refused a charge: memory and database disagreed; verify will report it"
    );
    let result = async {
        let mut write = store.begin().await?;
        let journal = rows.iter().min().zip(rows.iter().max()).map(|(from, through)| (*from, *through));
        let inserted = ledger::record_refused(&mut write, usage, request_id, journal).await;
        write.check(inserted)?;
        match journal::forget(&mut write, rows).await {
            Ok(()) => {}
            Err(UsageError::Storage(e)) => return Err(e),
            Err(UsageError::Refused) => return Err(sqlx::Error::Protocol("cannot delete refused journal rows".into())),
        }
        write.commit().await
    }
    .await;
    if let Err(e) = &result {
        tracing::error!(error = %e, "cannot record the refused charge");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ledger debits per tenant id.
    async fn debits(store: &Store) -> HashMap<i64, i64> {
        crate::on!(&mut store.reader().await.unwrap(), |c| sqlx::query_as::<_, (i64, i64)>(
            "SELECT tenant_id, COUNT(*) FROM ledger WHERE kind = 'debit' GROUP BY 1"
        )
        .fetch_all(c)
        .await)
        .unwrap()
        .into_iter()
        .collect()
    }

    /// A real database with tenants 1 to `count`, 100 credits each (rows only: enough for
    /// the ledger's usage writes); their ids.
    async fn tenants(count: i64) -> (tempfile::TempDir, crate::Console, Vec<i64>) {
        let dir = tempfile::tempdir().unwrap();
        let console = crate::Console::open(&dir.path().join("tollgate.db")).await.unwrap();
        let mut write = console.store().begin().await.unwrap();
        let inserted = crate::on!(&mut *write, |c| sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
             INSERT INTO tenants (id, slug, name, balance, created_at, updated_at)
             SELECT i, 't' || i, 't' || i, 100, ?2, ?2 FROM n",
        )
        .bind(count)
        .bind(Utc::now())
        .execute(c)
        .await
        .map(|done| done.rows_affected()));
        write.check(inserted).unwrap();
        write.commit().await.unwrap();
        (dir, console, (1..=count).collect())
    }

    #[test]
    fn a_rotation_that_fell_behind_takes_what_is_due_once_then_starts_a_round_from_now() {
        let every = Duration::from_millis(1600);
        let start = tokio::time::Instant::now();
        let mut rotation = Rotation::new(start);
        assert_eq!(rotation.due(start + every / 4, every), 0..4, "a quarter in: four shards, in order");
        let late = start + every * 3;
        assert_eq!(rotation.due(late, every), 4..SHARDS, "the rest of the round, once");
        assert_eq!(
            rotation.next_due(every),
            late + every / SHARDS as u32,
            "a new round from now, not a burst of rounds"
        );
        assert_eq!(rotation.due(late, every), 0..0, "nothing twice");
        // A shorter interval applies at once.
        assert_eq!(rotation.due(late + every / 8, every / 2), 0..4);
    }

    #[tokio::test]
    async fn a_round_writes_each_tenant_once_a_shard_at_a_time_and_a_flush_writes_them_all() {
        let (_dir, console, ids) = tenants(1100).await;
        let store = console.store().clone();
        let w = Writer::detached(store.clone());
        let now = Utc::now();
        for &id in &ids {
            assert!(w.sums.add(id, Sum { credits: 1, requests: 1, at: now, journal: Vec::new() }));
        }
        let every = w.every();
        let start = tokio::time::Instant::now();
        let mut rotation = Rotation::new(start);
        let (mut pending, mut outage) = (Sums::new(), None);
        // Instants computed, not waited for: the rotation is told what time it is.
        let slot = every / SHARDS as u32;
        assert!(!take_due(&w, &mut rotation, start + slot / 2, &mut pending), "nothing due before the first slot");
        for k in 0..SHARDS {
            assert!(take_due(&w, &mut rotation, start + slot * (k as u32 + 1), &mut pending), "shard {k} due");
            flush(&w, &mut pending, &mut outage).await.unwrap();
            let written = debits(&store).await;
            if k == 1 {
                let run = (64..128).all(|id| written.get(&id) == Some(&1)) && !written.contains_key(&128);
                assert!(run, "a shard holds runs of 64 neighbouring tenants (adjacent pages), not every 16th");
            }
            for &id in &ids {
                let shard = shard_of(id);
                let expected = i64::from(shard <= k);
                assert_eq!(
                    written.get(&id).copied().unwrap_or(0),
                    expected,
                    "tenant {id} (shard {shard}) after slot {k}"
                );
            }
        }
        let written = debits(&store).await;
        assert!(ids.iter().all(|id| written.get(id) == Some(&1)), "after one interval every tenant is written once");
        assert_eq!(rotation.next, 0, "the next round begins");

        // flush() writes every tenant at once, wherever its writer's rotation is.
        let (settlement, writer) = Settlement::spawn(store.clone());
        for &id in &ids {
            settlement.record(Debit { tenant_id: id, amount: 2, request_id: "r", at: now });
        }
        settlement.flush().await.unwrap();
        let written = debits(&store).await;
        assert!(ids.iter().all(|id| written.get(id) == Some(&2)), "every tenant written once more: {written:?}");
        let balances: Vec<i64> =
            crate::on!(&mut store.reader().await.unwrap(), |c| sqlx::query_scalar("SELECT balance FROM tenants")
                .fetch_all(c)
                .await)
            .unwrap();
        assert_eq!(balances, vec![97; ids.len()], "100 granted, 1 + 2 charged");
        settlement.stop().await.unwrap();
        writer.await.unwrap();
    }

    /// Strict usage of `tenants` (one credit each) committed to the journal and handed to
    /// the writer's sums, as a strict group commit does.
    async fn journal_one_each(w: &Writer, tenants: &[i64]) {
        let now = Utc::now();
        let usage: Vec<Usage> =
            tenants.iter().map(|&t| Usage { tenant_id: t, credits: 1, requests: 1, at: now }).collect();
        let hand = |rows: HashMap<i64, i64>| {
            for u in &usage {
                let row = Journaled { id: rows[&u.tenant_id], credits: 1, requests: 1 };
                assert!(w.sums.add(u.tenant_id, Sum { credits: 1, requests: 1, at: now, journal: vec![row] }));
            }
            w.journaled.fetch_max(rows.values().copied().max().unwrap(), Ordering::AcqRel);
        };
        journal::append(&w.store, &usage, hand).await.expect("SQLite").unwrap();
    }

    /// Per tenant id, (credits, calls) its debit entries hold, and the journal's row count.
    async fn charged(store: &Store) -> (HashMap<i64, (i64, i64)>, i64) {
        let mut conn = store.reader().await.unwrap();
        let per_tenant = crate::on!(&mut conn, |c| sqlx::query_as::<_, (i64, i64, i64)>(
            "SELECT tenant_id, -SUM(amount), SUM(requests) FROM ledger WHERE kind = 'debit' GROUP BY 1"
        )
        .fetch_all(c)
        .await)
        .unwrap();
        let rows =
            crate::on!(&mut conn, |c| sqlx::query_scalar("SELECT COUNT(*) FROM usage_journal").fetch_one(c).await)
                .unwrap();
        (per_tenant.into_iter().map(|(t, c, r)| (t, (c, r))).collect(), rows)
    }

    #[tokio::test]
    async fn journal_rows_are_deleted_a_round_at_a_time_and_a_crash_mid_round_folds_each_once() {
        let (_dir, console, _) = tenants(200).await;
        let store = console.store().clone();
        let w = Writer::detached(store.clone());
        // Tenants 1 and 65 sit in shards 0 and 1 (runs of 64 neighbours).
        assert_eq!((shard_of(1), shard_of(65)), (0, 1));
        for _ in 0..3 {
            journal_one_each(&w, &[1, 65]).await;
        }
        let every = w.every();
        let start = tokio::time::Instant::now();
        let mut rotation = Rotation::new(start);
        let (mut pending, mut outage) = (Sums::new(), None);
        let slot = every / SHARDS as u32;
        assert!(take_due(&w, &mut rotation, start + slot, &mut pending), "shard 0 due");
        flush(&w, &mut pending, &mut outage).await.unwrap();
        forget_folded(&w, &pending).await;
        let (ledger, rows) = charged(&store).await;
        assert_eq!(ledger.get(&1), Some(&(3, 3)), "tenant 1 folded: its three rows in one entry");
        assert_eq!(ledger.get(&65), None, "tenant 65's shard is not due yet");
        assert_eq!(rows, 6, "none deleted until every shard is written: one by one would rewrite every journal page");

        // The process dies here: tenant 1's rows are folded but still in the journal.
        assert_eq!(fold_journal(&store).await.unwrap(), (3, 3), "only tenant 65's rows are folded at start");
        let (ledger, rows) = charged(&store).await;
        assert_eq!((ledger[&1], ledger[&65]), ((3, 3), (3, 3)), "each row charged once");
        assert_eq!(rows, 0, "and the journal is empty");

        // A live round: the rows go once its last shard is written, in one range.
        let w = Writer::detached(store.clone());
        journal_one_each(&w, &[1, 65]).await;
        let start = tokio::time::Instant::now();
        let mut rotation = Rotation::new(start);
        for k in 0..SHARDS {
            assert!(take_due(&w, &mut rotation, start + slot * (k as u32 + 1), &mut pending));
            flush(&w, &mut pending, &mut outage).await.unwrap();
            forget_folded(&w, &pending).await;
            let rows = charged(&store).await.1;
            assert_eq!(rows, if k + 1 < SHARDS { 2 } else { 0 }, "after shard {k}");
        }
        let (ledger, _) = charged(&store).await;
        assert_eq!((ledger[&1], ledger[&65]), ((4, 4), (4, 4)));
    }

    fn sum(credits: i64, at: i64) -> Sum {
        Sum { credits, requests: 1, at: DateTime::from_timestamp(at, 0).unwrap(), journal: Vec::new() }
    }

    #[test]
    fn charges_sum_per_tenant_and_lose_nothing() {
        let shards = Shards(std::array::from_fn(|_| Mutex::default()));
        for n in 0..10_000 {
            assert!(shards.add(n % 3, sum(2, n)));
        }
        let mut pending = Sums::new();
        shards.take(&mut pending, false);
        assert_eq!(pending.len(), 3, "one sum per tenant, however many requests");
        assert_eq!(requests(&pending), 10_000, "every request counted");
        assert_eq!(pending.values().map(|s| s.credits).sum::<i64>(), 20_000, "every credit kept");
        assert_eq!(pending[&0].at, DateTime::from_timestamp(9999, 0).unwrap(), "the latest time");
        assert!(shards.add(1, sum(5, 1)), "sums gather again after a take");
        shards.take(&mut pending, true);
        assert_eq!(pending[&1].credits, 3333 * 2 + 5, "merged into what was not yet written");
        assert!(!shards.add(1, sum(5, 1)), "refused once closed");
        assert_eq!(unwritten(&pending).iter().map(|u| u.amount).sum::<i64>(), 20_005);
    }
}
