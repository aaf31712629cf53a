//! `cluster.nodes`: the nodes sharing this server's PostgreSQL, each one's health and lag.

use crate::console::command::{Command, Ctx};
use crate::domain::list::List;
use crate::store::changes::{self, ClusterNodes, NodeStatus};
use crate::{Console, ConsoleError};

impl Command for ClusterNodes {
    const NAME: &'static str = "cluster.nodes";
    const SUMMARY: &'static str =
        "The nodes sharing this server's PostgreSQL: whether each is up and how far it is behind the change log";
    type Output = List<NodeStatus>;

    /// On SQLite the server runs alone: no nodes.
    async fn run(self, console: &Console, ctx: &Ctx) -> Result<List<NodeStatus>, ConsoleError> {
        match console.store().postgres() {
            Some(pool) => Ok(List(changes::nodes(pool, ctx.now).await?)),
            None => Ok(List(Vec::new())),
        }
    }
}
