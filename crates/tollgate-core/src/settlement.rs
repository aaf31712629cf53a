//! Settlement: the one task that writes served usage to the ledger, many debits per
//! transaction (group commit), so the gateway never waits on the database to decide.
//!
//! `batched` callers hand a debit over and answer at once; a crash loses at most the
//! debits not yet committed (the writer starts a commit as soon as work arrives, so the
//! window is one commit, well under 50 ms). `strict` callers wait for the commit.

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::ledger::{EntryKind, Posting, record};
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
        // Everything that arrived while the previous commit ran goes into this one.
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

async fn write_all(store: &Store, debits: impl Iterator<Item = &Debit>) -> Result<(), WriteError> {
    let mut tx = store.begin().await.map_err(WriteError::Storage)?;
    for d in debits {
        let posting = Posting {
            tenant_id: d.tenant_id,
            kind: EntryKind::Debit,
            amount: -d.amount,
            reason: None,
            request_id: Some(&d.request_id),
            idempotency_key: None,
        };
        record(&mut tx, "gateway", d.at, posting).await.map_err(|e| match e {
            crate::ConsoleError::Store(s) => WriteError::Storage(s),
            _ => WriteError::Refused,
        })?;
    }
    tx.commit().await.map_err(WriteError::Storage)
}
