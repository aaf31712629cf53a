//! What every IPC command and background task of the desktop reaches.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::task::AbortHandle;

use crate::connections::{Connections, Keyring, Secrets};
use tollgate::demo::DemoLauncher;
use tollgate::node::Node;
use tollgate_core::Console;
use tollgate_core::store::settings::Settings;

/// The running node and the window's live feeds. Managed as Tauri state.
pub struct Desktop {
    console: Console,
    demo: DemoLauncher,
    gateway_url: String,
    /// Taken out once, when the app quits, to flush the ledger and release the data dir.
    node: Mutex<Option<Node>>,
    /// Running feeds by id; a feed that ends by itself removes its own entry.
    feeds: Arc<Mutex<HashMap<u32, AbortHandle>>>,
    next_feed: AtomicU32,
    /// When the process started, for the start-up figure.
    started: Instant,
    shown: AtomicBool,
    /// The remote servers the console can manage instead of this node.
    connections: Connections,
}

impl Desktop {
    /// Wraps a started node; `started` is when the process began.
    pub fn new(node: Node, started: Instant) -> Self {
        let file = node.dir().path().join("connections.json");
        Self::with_secrets(node, started, Some(file), Arc::new(Keyring))
    }

    /// As [`new`](Self::new), with connections kept in `file` (`None`: in memory) and
    /// tokens in `secrets` (tests keep them in memory; the app in the OS keyring).
    pub fn with_secrets(node: Node, started: Instant, file: Option<PathBuf>, secrets: Arc<dyn Secrets>) -> Self {
        Self {
            connections: Connections::open(file, secrets),
            console: node.console().clone(),
            demo: node.demo().clone(),
            gateway_url: node.gateway_url().to_string(),
            node: Mutex::new(Some(node)),
            feeds: Arc::default(),
            next_feed: AtomicU32::new(1),
            started,
            shown: AtomicBool::new(false),
        }
    }

    /// The remote servers, and which one the console manages.
    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// The console the commands run on.
    pub fn console(&self) -> &Console {
        &self.console
    }

    /// The demo loader, bound to this node's gateway.
    pub fn demo(&self) -> &DemoLauncher {
        &self.demo
    }

    /// Where the in-process gateway listens.
    pub fn gateway_url(&self) -> &str {
        &self.gateway_url
    }

    /// The settings in force (the node's live copy), or the defaults once it stopped.
    pub fn settings(&self) -> Arc<Settings> {
        self.node.lock().expect("node lock").as_ref().map(Node::settings).unwrap_or_default()
    }

    /// Runs a feed on the app's runtime, kept by id so `unsubscribe` (or a reload) can
    /// end it; one that ends by itself (the webview went away) forgets itself.
    pub fn start_feed(&self, feed: impl Future<Output = ()> + Send + 'static) -> u32 {
        let id = self.next_feed.fetch_add(1, Ordering::Relaxed);
        let feeds = self.feeds.clone();
        let task = tauri::async_runtime::spawn(async move {
            feed.await;
            feeds.lock().expect("feeds lock").remove(&id);
        });
        let handle = task.inner().abort_handle();
        // Under the lock: a task that finished already is not kept; one still running
        // removes its entry only after this insert.
        let mut feeds = self.feeds.lock().expect("feeds lock");
        if !handle.is_finished() {
            feeds.insert(id, handle);
        }
        id
    }

    /// How many feeds run (a reload or unsubscribe ends them).
    pub fn feed_count(&self) -> usize {
        self.feeds.lock().expect("feeds lock").len()
    }

    /// Ends a feed; unknown ids are fine (the feed may have ended by itself).
    pub fn end_feed(&self, id: u32) -> bool {
        self.feeds.lock().expect("feeds lock").remove(&id).map(|task| task.abort()).is_some()
    }

    /// Marks the first paint; true only the first time, with the elapsed start-up.
    pub fn first_paint(&self) -> Option<std::time::Duration> {
        (!self.shown.swap(true, Ordering::SeqCst)).then(|| self.started.elapsed())
    }

    /// Ends every feed: the page that asked for them is gone (reloaded or navigated).
    pub fn end_all_feeds(&self) {
        for (_, task) in self.feeds.lock().expect("feeds lock").drain() {
            task.abort();
        }
    }

    /// Stops the node: listeners close, every pending charge is written, the lock is
    /// released. Runs once; later calls do nothing.
    pub async fn stop(&self) -> anyhow::Result<()> {
        self.end_all_feeds();
        let node = self.node.lock().expect("node lock").take();
        match node {
            Some(node) => node.stop().await,
            None => Ok(()),
        }
    }
}
