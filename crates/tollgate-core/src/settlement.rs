//! Settlement: the one task that writes served usage to the ledger, many debits per
//! transaction (group commit), so the gateway never waits on the database to decide.
//!
//! `batched` callers hand a debit over and answer at once; a crash loses at most the
//! debits not yet committed (the writer starts a commit as soon as work arrives, so the
//! window is the 10 ms linger plus one commit). `strict` callers hand over their
//! [`Reservation`] too and wait: the writer spends it when the debit is committed (durable
//! on power loss) and lets it go when it cannot be, so a caller that goes away meanwhile
//! changes nothing.
//!
//! When storage fails, strict debits fail at once ([`SettleError`]), and batched ones stay
//! in memory and are written as soon as storage is back. Memory stays bounded: past
//! [`MAX_PENDING`] debits, further ones are summed per tenant (one ledger row per tenant,
//! carrying its request count). Nothing is ever dropped: a stop that cannot write
//! everything returns what it could not write.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::live::{Live, Reservation};
use crate::store::{Durability, Store, Write, is_storage_failure};

/// Usage to charge: credits already reserved in memory for a served request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Debit {
    pub tenant_id: i64,
    /// Positive credits.
    pub amount: i64,
    pub request_id: String,
    pub at: DateTime<Utc>,
}

/// Why a strict debit was not committed; nothing was charged and its reservation went back
/// (or, when the ledger refused it, stays spent in memory, the cautious side).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettleError {
    /// The database refuses writes (disk full, I/O error).
    #[error("storage is failing: {0}")]
    StorageUnavailable(String),
    /// The ledger refused the debit (it would take the stored balance below zero).
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

struct Strict {
    /// Taken by the writer when it writes the debit.
    reservation: Option<Reservation>,
    done: oneshot::Sender<Result<(), SettleError>>,
}

enum Message {
    Debit(Debit, Option<Strict>),
    Stop(oneshot::Sender<Result<(), StopError>>),
    /// Not sent: the writer's own wake-up to retry pending debits.
    Retry,
}

/// Hands debits to the writer task; cheap to clone.
#[derive(Clone, Debug)]
pub struct Settlement {
    tx: mpsc::UnboundedSender<Message>,
    store: Store,
    /// Batched debits handed over after the writer stopped (a bug if ever non-zero).
    lost: Arc<AtomicU64>,
}

/// Most debits written in one transaction.
const MAX_BATCH: usize = 4096;

/// Debits kept one by one while storage fails; past this, they are summed per tenant, so
/// a long outage costs memory per tenant, not per request.
pub const MAX_PENDING: usize = 100_000;

/// How long a batched debit waits for others before the writer commits: long enough to
/// fill a batch under load, short enough to keep the crash window small.
const LINGER: Duration = Duration::from_millis(10);

/// First wait before writing again after a storage failure; doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(2);

/// How long a stop keeps trying to write what is pending before it reports it unwritten.
const STOP_PATIENCE: Duration = Duration::from_secs(5);

impl Settlement {
    /// Starts the writer task on the current runtime.
    pub fn spawn(store: Store) -> (Self, JoinHandle<()>) {
        Self::spawn_with(store, None)
    }

    /// Starts the writer task for the gateway deciding from `live`: batched charges
    /// handed over ([`Reservation::hand_over`]) leave its unwritten count as they are
    /// committed, so reconciliation can check every balance against the database.
    pub fn spawn_with(store: Store, live: Option<Arc<Live>>) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let settlement = Self { tx, store: store.clone(), lost: Arc::default() };
        (settlement, tokio::spawn(run(Ledger { store, live }, rx)))
    }

    /// True while the database refuses writes: strict requests are then refused before
    /// they are forwarded.
    pub fn storage_failing(&self) -> bool {
        self.store.health().is_failing()
    }

    /// Queues a debit whose reservation the caller already spent (`batched` durability).
    pub fn record(&self, debit: Debit) {
        if let Err(mpsc::error::SendError(Message::Debit(debit, _))) = self.tx.send(Message::Debit(debit, None)) {
            self.lost.fetch_add(1, Ordering::Relaxed);
            tracing::error!(?debit, "a charge arrived after the settlement writer stopped and is NOT in the ledger");
        }
    }

    /// Queues a debit and waits until it is committed durably (`strict`). The writer
    /// spends `reservation` on commit and lets it go otherwise, even if this future is
    /// dropped meanwhile.
    pub async fn record_durably(&self, debit: Debit, reservation: Reservation) -> Result<(), SettleError> {
        let (done, committed) = oneshot::channel();
        if self.tx.send(Message::Debit(debit, Some(Strict { reservation: Some(reservation), done }))).is_err() {
            return Err(SettleError::Stopped); // the message, reservation included, was dropped: released
        }
        committed.await.unwrap_or(Err(SettleError::Stopped))
    }

    /// Batched charges that arrived after the writer stopped.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Writes everything queued so far and stops the task; for a clean shutdown. Gives up
    /// after a few seconds of storage failures and says what it could not write.
    pub async fn stop(&self) -> Result<(), StopError> {
        let (done, stopped) = oneshot::channel();
        if self.tx.send(Message::Stop(done)).is_err() {
            return Ok(()); // already stopped
        }
        stopped.await.unwrap_or(Ok(()))
    }
}

/// Debits summed per tenant once [`MAX_PENDING`] are waiting.
#[derive(Debug, Clone, Copy)]
struct Folded {
    amount: i64,
    requests: i64,
    at: DateTime<Utc>,
}

/// Batched debits waiting for a commit.
#[derive(Default)]
struct Pending {
    debits: Vec<Debit>,
    folded: HashMap<i64, Folded>,
}

impl Pending {
    fn push(&mut self, debit: Debit) {
        if self.debits.len() < MAX_PENDING {
            self.debits.push(debit);
            return;
        }
        let f = self.folded.entry(debit.tenant_id).or_insert(Folded { amount: 0, requests: 0, at: debit.at });
        f.amount += debit.amount;
        f.requests += 1;
        f.at = f.at.max(debit.at);
    }

    fn is_empty(&self) -> bool {
        self.debits.is_empty() && self.folded.is_empty()
    }

    /// Rows to write: every debit, then one per folded tenant.
    fn rows(&self) -> Vec<Row<'_>> {
        let singles = self.debits.iter().map(|d| Row {
            tenant_id: d.tenant_id,
            amount: d.amount,
            requests: 1,
            request_id: Some(&d.request_id),
            at: d.at,
        });
        let folded = self.folded.iter().map(|(tenant_id, f)| Row {
            tenant_id: *tenant_id,
            amount: f.amount,
            requests: f.requests,
            request_id: None,
            at: f.at,
        });
        singles.chain(folded).collect()
    }

    fn unwritten(&self) -> Vec<Unwritten> {
        let mut by_tenant: HashMap<i64, Unwritten> = HashMap::new();
        for row in self.rows() {
            let u = by_tenant.entry(row.tenant_id).or_insert(Unwritten {
                tenant_id: row.tenant_id,
                amount: 0,
                requests: 0,
            });
            u.amount += row.amount;
            u.requests += row.requests;
        }
        let mut list: Vec<Unwritten> = by_tenant.into_values().collect();
        list.sort_by_key(|u| u.tenant_id);
        list
    }
}

/// One ledger row to write.
#[derive(Debug, Clone)]
struct Row<'a> {
    tenant_id: i64,
    amount: i64,
    requests: i64,
    request_id: Option<&'a str>,
    at: DateTime<Utc>,
}

/// Where the writer writes, and the live state it keeps in step (when a gateway runs).
struct Ledger {
    store: Store,
    live: Option<Arc<Live>>,
}

impl Ledger {
    /// Batched debits of `rows` the ledger refused for good leave the unwritten count.
    fn written(&self, rows: &[Row<'_>]) {
        if let Some(live) = &self.live {
            for row in rows {
                live.written(row.tenant_id, row.amount);
            }
        }
    }
}

/// What memory does once a write commits: applied by the write itself, before its
/// connection serves anyone else, so reconciliation (which reads on that connection)
/// never sees the database ahead of memory.
type OnCommit = Box<dyn FnOnce(&Live) + Send>;

/// Batched rows leave the unwritten count when committed.
fn rows_written(rows: &[Row<'_>]) -> OnCommit {
    let amounts: Vec<(i64, i64)> = rows.iter().map(|r| (r.tenant_id, r.amount)).collect();
    Box::new(move |live| {
        for (tenant_id, amount) in amounts {
            live.written(tenant_id, amount);
        }
    })
}

/// A strict caller's reservation, shared with the write that may spend it: a write that
/// fails drops its closure and leaves the reservation here for a retry or a release.
type Slot = Arc<std::sync::Mutex<Option<Reservation>>>;

fn spend_on_commit(slots: Vec<Slot>) -> OnCommit {
    Box::new(move |_| {
        for slot in slots {
            if let Some(r) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
                r.spend();
            }
        }
    })
}

/// Spends (or, `false`, releases) what a slot still holds.
fn settle_slot(slot: &Slot, spend: bool) {
    if let Some(r) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
        if spend { r.spend() } else { drop(r) }
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
    fn begin(error: &sqlx::Error, pending: &Pending) -> Self {
        tracing::error!(%error, waiting = pending.debits.len(), folded_tenants = pending.folded.len(),
            "cannot write usage to the ledger; charges wait in memory and are retried");
        let now = tokio::time::Instant::now();
        Self { next_try: now + FIRST_RETRY, retry: FIRST_RETRY, last_report: now, attempts: 1 }
    }

    fn failed_again(&mut self, error: &sqlx::Error, pending: &Pending) {
        let now = tokio::time::Instant::now();
        self.attempts += 1;
        self.retry = (self.retry * 2).min(MAX_RETRY);
        self.next_try = now + self.retry;
        if now.duration_since(self.last_report) >= REPORT_EVERY {
            self.last_report = now;
            tracing::error!(%error, attempts = self.attempts, waiting = pending.debits.len(),
                folded_tenants = pending.folded.len(), "still cannot write usage to the ledger");
        }
    }
}

async fn run(ledger: Ledger, mut rx: mpsc::UnboundedReceiver<Message>) {
    let store = &ledger.store;
    let mut pending = Pending::default();
    let mut strict: Vec<(Debit, Strict)> = Vec::new();
    let mut outage: Option<Outage> = None;
    let mut probe_retry = FIRST_RETRY;
    let mut health = store.health().subscribe();
    loop {
        // Wait for work. While batched debits wait for storage, or storage is known to
        // fail (strict requests are refused meanwhile), also wake to try again.
        let first = if pending.is_empty() && !store.health().is_failing() {
            tokio::select! {
                m = rx.recv() => m,
                // A console write met the failure: start probing.
                Ok(()) = health.changed() => Some(Message::Retry),
            }
        } else {
            let wake = outage.as_ref().map_or_else(|| tokio::time::Instant::now() + probe_retry, |o| o.next_try);
            tokio::select! {
                m = rx.recv() => m,
                () = tokio::time::sleep_until(wake) => Some(Message::Retry),
            }
        };
        let Some(first) = first else {
            // Every sender is gone: write what is left, as a stop would.
            if let Err(e) = flush_for_stop(&ledger, &mut pending).await {
                tracing::error!(error = %e, "the settlement writer ended with charges unwritten");
            }
            return;
        };
        // A batched debit may wait a moment for company: one commit then carries many.
        // A strict one is written at once; strict callers still share commits, since they
        // queue while one runs.
        if matches!(first, Message::Debit(_, None)) && pending.is_empty() {
            tokio::time::sleep(LINGER).await;
        }
        let mut stop = None;
        let mut next = first;
        let mut taken = 0;
        loop {
            match next {
                Message::Debit(d, None) => pending.push(d),
                Message::Debit(d, Some(s)) => strict.push((d, s)),
                Message::Stop(done) => stop = Some(done),
                Message::Retry => {}
            }
            taken += 1;
            if stop.is_some() || taken >= MAX_BATCH {
                break;
            }
            next = match rx.try_recv() {
                Ok(m) => m,
                Err(_) => break,
            };
        }
        if let Some(done) = stop {
            // Stopping: everything still queued goes in too.
            while let Ok(Message::Debit(d, s)) = rx.try_recv() {
                match s {
                    Some(s) => strict.push((d, s)),
                    None => pending.push(d),
                }
            }
            settle_strict(&ledger, &mut strict).await;
            let result = flush_for_stop(&ledger, &mut pending).await;
            let _ = done.send(result);
            return;
        }
        settle_strict(&ledger, &mut strict).await;
        if pending.is_empty() {
            if store.health().is_failing() {
                match store.probe().await {
                    Ok(()) => probe_retry = FIRST_RETRY,
                    Err(_) => probe_retry = (probe_retry * 2).min(MAX_RETRY),
                }
            }
            continue;
        }
        // During an outage, charges only gather until the next try is due.
        if outage.as_ref().is_some_and(|o| tokio::time::Instant::now() < o.next_try) {
            continue;
        }
        match write_pending(&ledger, &mut pending).await {
            Ok(()) => {
                if let Some(o) = outage.take() {
                    tracing::warn!(attempts = o.attempts, "usage held in memory is written to the ledger again");
                }
            }
            Err(e) => match &mut outage {
                Some(o) => o.failed_again(&e, &pending),
                None => outage = Some(Outage::begin(&e, &pending)),
            },
        }
    }
}

/// Writes the strict debits (durable on power loss) and answers each caller; on a
/// storage failure every one of them fails at once and its credits go back.
async fn settle_strict(ledger: &Ledger, strict: &mut Vec<(Debit, Strict)>) {
    if strict.is_empty() {
        return;
    }
    let slots: Vec<Slot> =
        strict.iter_mut().map(|(_, s)| Arc::new(std::sync::Mutex::new(s.reservation.take()))).collect();
    let rows: Vec<Row> = strict.iter().map(|(d, _)| single(d)).collect();
    let written = write_rows(ledger, &rows, Durability::PowerLoss, spend_on_commit(slots.clone())).await;
    match written {
        Ok(()) => {
            for ((_, s), slot) in strict.drain(..).zip(&slots) {
                settle_slot(slot, true); // without a live state, nothing spent it yet
                let _ = s.done.send(Ok(()));
            }
        }
        Err(WriteError::Storage(e)) => {
            let message = e.to_string();
            for ((_, s), slot) in strict.drain(..).zip(&slots) {
                settle_slot(slot, false); // released: nothing was charged
                let _ = s.done.send(Err(SettleError::StorageUnavailable(message.clone())));
            }
        }
        Err(WriteError::Refused) => {
            // One by one, so one refused debit does not fail the others.
            for ((d, s), slot) in strict.drain(..).zip(slots) {
                let once = spend_on_commit(vec![slot.clone()]);
                let result = match write_rows(ledger, &[single(&d)], Durability::PowerLoss, once).await {
                    Ok(()) => Ok(()),
                    Err(WriteError::Storage(e)) => Err(SettleError::StorageUnavailable(e.to_string())),
                    Err(WriteError::Refused) => {
                        record_refused(&ledger.store, &single(&d)).await;
                        Err(SettleError::Refused)
                    }
                };
                // A refused debit stays spent in memory (the cautious side; reconciliation
                // then takes the database's figure).
                settle_slot(&slot, matches!(result, Ok(()) | Err(SettleError::Refused)));
                let _ = s.done.send(result);
            }
        }
    }
}

fn single(d: &Debit) -> Row<'_> {
    Row { tenant_id: d.tenant_id, amount: d.amount, requests: 1, request_id: Some(&d.request_id), at: d.at }
}

/// Writes the pending batched debits; they stay pending on a storage failure. A debit the
/// ledger refuses is recorded for `verify` and not retried.
async fn write_pending(ledger: &Ledger, pending: &mut Pending) -> Result<(), sqlx::Error> {
    let rows = pending.rows();
    match write_rows(ledger, &rows, Durability::Crash, rows_written(&rows)).await {
        Ok(()) => {}
        Err(WriteError::Storage(e)) => return Err(e),
        Err(WriteError::Refused) => {
            let mut failed = None;
            for (i, row) in rows.iter().enumerate() {
                let one = std::slice::from_ref(row);
                match write_rows(ledger, one, Durability::Crash, rows_written(one)).await {
                    Ok(()) => {}
                    Err(WriteError::Refused) => {
                        record_refused(&ledger.store, row).await;
                        ledger.written(std::slice::from_ref(row));
                    }
                    Err(WriteError::Storage(e)) => {
                        failed = Some((i, e));
                        break;
                    }
                }
            }
            drop(rows);
            if let Some((written, e)) = failed {
                // Storage failed midway: keep only what is not yet written.
                keep_from(pending, written);
                return Err(e);
            }
        }
    }
    *pending = Pending::default();
    Ok(())
}

/// Drops the first `written` rows of `pending` (singles come first, then folded tenants).
fn keep_from(pending: &mut Pending, written: usize) {
    let singles = written.min(pending.debits.len());
    pending.debits.drain(..singles);
    let folded_written = written - singles;
    if folded_written > 0 {
        let done: Vec<i64> = pending.folded.keys().take(folded_written).copied().collect();
        for id in done {
            pending.folded.remove(&id);
        }
    }
}

/// A stop's last attempts: retries for a few seconds, then reports what is left.
async fn flush_for_stop(ledger: &Ledger, pending: &mut Pending) -> Result<(), StopError> {
    let deadline = tokio::time::Instant::now() + STOP_PATIENCE;
    let mut retry = FIRST_RETRY;
    while !pending.is_empty() {
        match write_pending(ledger, pending).await {
            Ok(()) => break,
            Err(e) if tokio::time::Instant::now() + retry < deadline => {
                tracing::error!(error = %e, "cannot write the last charges; retrying before stopping");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(MAX_RETRY);
            }
            Err(e) => {
                let error = StopError { unwritten: pending.unwritten() };
                tracing::error!(error = %e, unwritten = ?error.unwritten, "stopping with charges NOT written to the ledger");
                return Err(error);
            }
        }
    }
    Ok(())
}

/// Keeps a refused debit where `verify` reports it (best effort: logged either way).
async fn record_refused(store: &Store, row: &Row<'_>) {
    tracing::error!(?row, "the ledger refused a debit: memory and database disagreed; verify will report it");
    let result = async {
        let mut write = store.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO refused_debits (tenant_id, amount, requests, request_id, at, reason) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(row.tenant_id)
        .bind(row.amount)
        .bind(row.requests)
        .bind(row.request_id)
        .bind(row.at)
        .bind("the balance in the database could not cover it")
        .execute(&mut *write)
        .await;
        write.check(inserted)?;
        write.commit().await
    }
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "cannot record the refused debit");
    }
}

#[derive(Debug)]
enum WriteError {
    Refused,
    Storage(sqlx::Error),
}

/// Rows per multi-row INSERT: few round trips to SQLite's thread, well under its
/// limit on bound parameters.
const ROWS_PER_INSERT: usize = 100;

async fn write_rows(
    ledger: &Ledger,
    rows: &[Row<'_>],
    durability: Durability,
    on_commit: OnCommit,
) -> Result<(), WriteError> {
    // Every statement is a round trip to SQLite's thread, and every row it returns one
    // more: so nothing is read back. Each entry's balance_after is the tenant's stored
    // balance minus the debits before it in this batch (computed here), and each
    // tenant's balance is written once. The ledger's CHECK refuses a negative result.
    let mut spent: HashMap<i64, i64> = HashMap::new();
    let mut numbered: Vec<(&Row, i64)> = Vec::with_capacity(rows.len());
    for row in rows {
        if row.amount <= 0 {
            return Err(WriteError::Refused);
        }
        let total = spent.entry(row.tenant_id).or_default();
        *total += row.amount;
        numbered.push((row, *total));
    }
    let mut write = ledger.store.begin_with(durability, ledger.live.clone()).await.map_err(WriteError::Storage)?;
    write.after_commit(on_commit);
    for (chunk_index, chunk) in numbered.chunks(ROWS_PER_INSERT).enumerate() {
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO ledger (tenant_id, kind, amount, balance_after, actor, request_id, created_at, requests, reason)
             SELECT v.column1, 'debit', -v.column2, t.balance - v.column3, 'gateway', v.column4, v.column5, v.column7,
                    CASE WHEN v.column7 > 1 THEN v.column7 || ' requests charged while storage was failing' END
             FROM (",
        );
        insert.push_values(chunk.iter().enumerate(), |mut b, (i, (row, spent_so_far))| {
            b.push_bind(row.tenant_id)
                .push_bind(row.amount)
                .push_bind(*spent_so_far)
                .push_bind(row.request_id)
                .push_bind(row.at)
                .push_bind((chunk_index * ROWS_PER_INSERT + i) as i64)
                .push_bind(row.requests);
        });
        insert.push(") AS v JOIN tenants t ON t.id = v.column1 ORDER BY v.column6");
        let inserted = insert.build().execute(&mut *write).await;
        let inserted = statement(&mut write, inserted)?;
        if inserted.rows_affected() != chunk.len() as u64 {
            return Err(WriteError::Refused); // a debit for a tenant that does not exist
        }
    }
    let totals: Vec<(i64, i64)> = spent.into_iter().collect();
    for chunk in totals.chunks(ROWS_PER_INSERT * 5) {
        let mut update =
            sqlx::QueryBuilder::<sqlx::Sqlite>::new("UPDATE tenants SET balance = balance - v.column2 FROM (");
        update.push_values(chunk, |mut b, (id, total)| {
            b.push_bind(*id).push_bind(*total);
        });
        update.push(") AS v WHERE tenants.id = v.column1");
        let updated = update.build().execute(&mut *write).await;
        statement(&mut write, updated)?;
    }
    write.commit().await.map_err(WriteError::Storage)
}

/// A CHECK constraint failing means the ledger refused the data, not that storage failed.
fn statement<T>(write: &mut Write, result: Result<T, sqlx::Error>) -> Result<T, WriteError> {
    match write.check(result) {
        Ok(v) => Ok(v),
        Err(sqlx::Error::Database(d)) if d.is_check_violation() => Err(WriteError::Refused),
        Err(e) if !is_storage_failure(&e) => Err(WriteError::Refused),
        Err(e) => Err(WriteError::Storage(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debit(tenant_id: i64, n: usize) -> Debit {
        Debit { tenant_id, amount: 2, request_id: format!("r{n}"), at: Utc::now() }
    }

    #[test]
    fn pending_debits_fold_per_tenant_past_the_bound_and_lose_nothing() {
        let mut p = Pending::default();
        for n in 0..MAX_PENDING + 1000 {
            p.push(debit((n % 3) as i64, n));
        }
        assert_eq!(p.debits.len(), MAX_PENDING, "kept one by one up to the bound");
        assert_eq!(p.folded.len(), 3, "then one entry per tenant");
        let rows = p.rows();
        assert_eq!(rows.iter().map(|r| r.requests).sum::<i64>(), (MAX_PENDING + 1000) as i64, "every request counted");
        assert_eq!(rows.iter().map(|r| r.amount).sum::<i64>(), 2 * (MAX_PENDING + 1000) as i64, "every credit kept");
        let unwritten = p.unwritten();
        assert_eq!(unwritten.iter().map(|u| u.amount).sum::<i64>(), 2 * (MAX_PENDING + 1000) as i64);
    }

    #[test]
    fn keeping_from_a_midpoint_drops_only_what_was_written() {
        let mut p = Pending::default();
        for n in 0..5 {
            p.push(debit(1, n));
        }
        keep_from(&mut p, 3);
        assert_eq!(p.debits.iter().map(|d| d.request_id.as_str()).collect::<Vec<_>>(), ["r3", "r4"]);
    }
}
