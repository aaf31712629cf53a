//! `storage.status`: whether the database accepts writes right now.

use crate::console::command::{Command, Ctx};
use crate::store::health::{StorageShow, StorageStatus};
use crate::{Console, ConsoleError};

impl Command for StorageShow {
    const NAME: &'static str = "storage.status";
    const SUMMARY: &'static str = "Whether the database accepts writes (a failing disk refuses console changes)";
    type Output = StorageStatus;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<StorageStatus, ConsoleError> {
        Ok(console.store().health().status())
    }
}
