//! Gateway events between nodes sharing one PostgreSQL, for viewers: each node sends its
//! own in batches on one notification channel, and hears the others'. Notifications are
//! not stored and not replayed: a viewer may miss some, a ledger never does.

use sqlx::PgPool;
use sqlx::postgres::PgListener;

const CHANNEL: &str = "tollgate_events";

/// A notification's payload must stay under PostgreSQL's 8,000 bytes.
pub const PAYLOAD_MAX: usize = 7_900;

/// Sends one batch (`payload`, at most [`PAYLOAD_MAX`] bytes).
pub async fn send(pool: &PgPool, payload: &str) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(pool).await.map(drop)
}

/// The batches every node sends (this one's too), from now on.
pub struct NodeEvents(PgListener);

impl NodeEvents {
    pub async fn listen(pool: &PgPool) -> sqlx::Result<Self> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(Self(listener))
    }

    /// The next batch; after a lost connection, the listener reconnects by itself (what
    /// was sent meanwhile is lost).
    pub async fn next(&mut self) -> sqlx::Result<String> {
        Ok(self.0.recv().await?.payload().to_string())
    }
}
