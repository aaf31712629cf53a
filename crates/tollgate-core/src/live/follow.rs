//! A node sharing its database with others follows their console writes: each change the
//! log hands it ([`crate::store::changes::ChangeFeed`]) is read again from the database and
//! applied to memory, as a local write's is after its commit.

use crate::live::Live;
use crate::live::load::Fresh;
use crate::store::{Store, audit};

impl Live {
    /// Reads what `target` (`tenant:<slug>`, `plan:<slug>`, `route:<id>`, `settings`) now
    /// is and applies it. The version is the newest audit entry the same snapshot sees, so
    /// it is at least the change's own and an older read never overwrites a newer one.
    pub async fn follow(&self, store: &Store, target: &str) -> Result<(), sqlx::Error> {
        let mut snapshot = store.snapshot().await?;
        let fresh = Fresh::read(&mut snapshot, target).await?;
        let version = audit::last_id(&mut snapshot).await?;
        snapshot.finish().await?;
        self.apply_read(fresh, version);
        Ok(())
    }
}
