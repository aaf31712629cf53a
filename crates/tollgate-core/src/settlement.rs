//! Settlement: the one task that writes served usage to the ledger, many debits per
//! transaction (group commit), so the gateway never waits on the database to decide.
//!
//! `batched` callers hand a debit over and answer at once; a crash loses at most the
//! debits not yet committed (the writer starts a commit as soon as work arrives, so the
//! window is the 10 ms linger plus one commit, well under 50 ms). `strict` callers wait for
//! the commit.

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::store::Store;

/// Usage to charge: credits already reserved in memory for a served request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Debit {
    pub tenant_id: i64,
    /// Positive credits.
    pub amount: i64,
    pub request_id: String,
    pub at: DateTime<Utc>,
}

enum Message {
    Debit(Debit, Option<oneshot::Sender<()>>),
    Stop(oneshot::Sender<()>),
}

/// Hands debits to the writer task; cheap to clone.
#[derive(Clone, Debug)]
pub struct Settlement {
    tx: mpsc::UnboundedSender<Message>,
}

/// Most debits written in one transaction.
const MAX_BATCH: usize = 4096;

/// How long a batched debit waits for others before the writer commits: well inside the
/// promised 50 ms crash window, long enough to fill a batch under load.
const LINGER: std::time::Duration = std::time::Duration::from_millis(10);

impl Settlement {
    /// Starts the writer task on the current runtime.
    pub fn spawn(store: Store) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, tokio::spawn(run(store, rx)))
    }

    /// Queues a debit and returns at once (`batched` durability).
    pub fn record(&self, debit: Debit) {
        let _ = self.tx.send(Message::Debit(debit, None));
    }

    /// Queues a debit and waits until it is committed (`strict` durability).
    pub async fn record_durably(&self, debit: Debit) {
        let (done, committed) = oneshot::channel();
        if self.tx.send(Message::Debit(debit, Some(done))).is_ok() {
            let _ = committed.await;
        }
    }

    /// Writes everything queued so far and stops the task; for a clean shutdown.
    pub async fn stop(&self) {
        let (done, stopped) = oneshot::channel();
        if self.tx.send(Message::Stop(done)).is_ok() {
            let _ = stopped.await;
        }
    }
}

async fn run(store: Store, mut rx: mpsc::UnboundedReceiver<Message>) {
    let mut batch: Vec<(Debit, Option<oneshot::Sender<()>>)> = Vec::new();
    while let Some(first) = rx.recv().await {
        // A batched debit may wait a moment for company: one commit then carries many
        // (each statement is a round trip to SQLite's thread). A strict one is written at
        // once; strict callers still share commits, since they queue while one runs.
        if matches!(first, Message::Debit(_, None)) {
            tokio::time::sleep(LINGER).await;
        }
        // Everything that arrived meanwhile goes into this commit.
        let mut stop = None;
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Debit(d, done) => batch.push((d, done)),
                Message::Stop(done) => stop = Some(done),
            }
            next = if stop.is_none() && batch.len() < MAX_BATCH { rx.try_recv().ok() } else { None };
        }
        if stop.is_some() {
            while let Ok(Message::Debit(d, done)) = rx.try_recv() {
                batch.push((d, done));
            }
        }
        write(&store, &batch).await;
        for (_, done) in batch.drain(..) {
            if let Some(done) = done {
                let _ = done.send(());
            }
        }
        if let Some(done) = stop {
            let _ = done.send(());
            return;
        }
    }
}

/// Writes a batch in one transaction, retrying storage failures; a debit the ledger
/// refuses (it would mean memory and database disagree) is logged and written alone so
/// it cannot block everyone else's.
async fn write(store: &Store, batch: &[(Debit, Option<oneshot::Sender<()>>)]) {
    if batch.is_empty() {
        return;
    }
    let mut delay = std::time::Duration::from_millis(50);
    loop {
        match write_all(store, batch.iter().map(|(d, _)| d)).await {
            Ok(()) => return,
            Err(WriteError::Refused) => break,
            Err(WriteError::Storage(e)) => {
                tracing::error!(error = %e, debits = batch.len(), "cannot write usage to the ledger; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(5));
            }
        }
    }
    for (debit, _) in batch {
        if let Err(e) = write_all(store, std::iter::once(debit)).await {
            tracing::error!(?debit, error = ?e, "the ledger refused a debit; verify will report the tenant");
        }
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

async fn write_all(store: &Store, debits: impl Iterator<Item = &Debit>) -> Result<(), WriteError> {
    // Every statement is a round trip to SQLite's thread, and every row it returns one
    // more: so nothing is read back. Each entry's balance_after is the tenant's stored
    // balance minus the debits before it in this batch (computed here), and each
    // tenant's balance is written once. The ledger's CHECK refuses a negative result.
    let mut spent: std::collections::HashMap<i64, i64> = std::collections::HashMap::new();
    let mut rows: Vec<(&Debit, i64)> = Vec::new();
    for d in debits {
        if d.amount <= 0 {
            return Err(WriteError::Refused);
        }
        let total = spent.entry(d.tenant_id).or_default();
        *total += d.amount;
        rows.push((d, *total));
    }
    let mut tx = store.begin().await.map_err(WriteError::Storage)?;
    for (chunk_index, chunk) in rows.chunks(ROWS_PER_INSERT).enumerate() {
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO ledger (tenant_id, kind, amount, balance_after, actor, request_id, created_at)
             SELECT v.column1, 'debit', -v.column2, t.balance - v.column3, 'gateway', v.column4, v.column5
             FROM (",
        );
        insert.push_values(chunk.iter().enumerate(), |mut row, (i, (d, spent_so_far))| {
            row.push_bind(d.tenant_id)
                .push_bind(d.amount)
                .push_bind(*spent_so_far)
                .push_bind(d.request_id.as_str())
                .push_bind(d.at)
                .push_bind((chunk_index * ROWS_PER_INSERT + i) as i64);
        });
        insert.push(") AS v JOIN tenants t ON t.id = v.column1 ORDER BY v.column6");
        let inserted = insert.build().execute(&mut *tx).await.map_err(refused_or_storage)?;
        if inserted.rows_affected() != chunk.len() as u64 {
            return Err(WriteError::Refused); // a debit for a tenant that does not exist
        }
    }
    let totals: Vec<(i64, i64)> = spent.into_iter().collect();
    for chunk in totals.chunks(ROWS_PER_INSERT * 5) {
        let mut update =
            sqlx::QueryBuilder::<sqlx::Sqlite>::new("UPDATE tenants SET balance = balance - v.column2 FROM (");
        update.push_values(chunk, |mut row, (id, total)| {
            row.push_bind(*id).push_bind(*total);
        });
        update.push(") AS v WHERE tenants.id = v.column1");
        update.build().execute(&mut *tx).await.map_err(refused_or_storage)?;
    }
    tx.commit().await.map_err(WriteError::Storage)
}

/// A CHECK constraint failing means the ledger refused the data, not that storage failed.
fn refused_or_storage(e: sqlx::Error) -> WriteError {
    match &e {
        sqlx::Error::Database(d) if d.is_check_violation() => WriteError::Refused,
        _ => WriteError::Storage(e),
    }
}
