//! The end of every console write: its audit entry, the commit, the gateway's memory
//! brought in step, and the announcement, in that order.

use crate::console::command::joined;
use crate::domain::ctx::Ctx;
use crate::live::Fresh;
use crate::store::Write;
use crate::store::audit::{Change, record};
use crate::store::changes;
use crate::{Console, ConsoleError};

/// Ends a console write: records `change` in the same transaction, reads what the
/// gateway's memory must take from it (on the write connection, which sees this
/// transaction's own writes), commits, and only then announces it, so viewers never see
/// an action that did not happen.
///
/// The commit runs as a task of its own, with the memory update right behind it and no
/// await in between: a caller that stops waiting (a client that hung up) cannot leave the
/// database changed and memory not, and a later write's update is never overwritten by
/// this one's (see [`Version`](crate::live::Version)).
pub(crate) async fn commit(
    console: &Console,
    mut tx: Write,
    ctx: &Ctx,
    mut change: Change<'_>,
) -> Result<(), ConsoleError> {
    let also = std::mem::take(&mut change.also);
    let entry = record(&mut tx, ctx, change).await?;
    // Other nodes on the same database read again what changed (see `store::changes`).
    for target in std::iter::once(&entry.target).chain(&also) {
        changes::announce(&mut tx, target).await?;
    }
    let committing = match console.live() {
        Some(live) => {
            for target in std::iter::once(&entry.target).chain(&also) {
                let fresh = Fresh::read(&mut tx, target).await?;
                let (version, live) = (entry.id, live.clone());
                tx.after_commit(move || live.apply(fresh, version));
            }
            Some(live.committing())
        }
        None => None,
    };
    let committed = tokio::spawn(async move {
        let result = tx.commit().await;
        drop(committing);
        result
    });
    joined(committed).await?;
    console.announce(entry);
    Ok(())
}
