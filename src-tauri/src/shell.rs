//! Builds and runs the app. The node starts first, so a data directory owned by another
//! process or a busy port fails with a clear message before any window opens.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use tauri::{Manager, RunEvent, Runtime, WindowEvent};
use tauri_plugin_window_state::{AppHandleExt as _, StateFlags};
use tollgate::data_dir::DataDir;
use tollgate::node::{Node, NodeOptions};

use crate::args::DesktopArgs;
use crate::{Desktop, instance, ipc, tray, watch};

/// The app's configuration, icons and the built dashboard, embedded at compile time.
pub fn context<R: Runtime>() -> tauri::Context<R> {
    tauri::generate_context!()
}

/// Adds the IPC commands to a builder of any runtime: the app and the mock-runtime tests
/// share this one list.
pub fn with_commands<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.invoke_handler(tauri::generate_handler![
        ipc::console,
        ipc::subscribe,
        ipc::unsubscribe,
        ipc::load_demo,
        ipc::connections,
        ipc::connection_add,
        ipc::connection_remove,
        ipc::connection_use,
        ipc::app_ready
    ])
}

/// Where the app keeps its data and listens: `--data-dir`/`TOLLGATE_DATA_DIR` and
/// `--admin-listen`/`--gateway-listen` (or `TOLLGATE_ADMIN_LISTEN`/`TOLLGATE_GATEWAY_LISTEN`),
/// as for `tollgate serve`. Flags it does not know are ignored (a WebDriver launches the
/// app with its own).
#[derive(Debug, Default)]
pub struct Options {
    /// `None`: the OS data directory's `tollgate/`.
    pub data_dir: Option<PathBuf>,
    /// Listen addresses (`None`: the stored settings).
    pub node: NodeOptions,
}

impl Options {
    /// Reads the command line and the environment; `--help` and `--version` print and
    /// exit here, and a bad flag exits with clap's message.
    pub fn from_env() -> Result<Self> {
        Self::parse(std::env::args().skip(1), |name| std::env::var(name).ok()).map_err(|e| {
            match e.downcast::<clap::Error>() {
                Ok(clap) => clap.exit(),
                Err(e) => e,
            }
        })
    }

    /// Reads `args` (without the program name) and the variables `var` looks up (the
    /// flags win; clap reads the process environment itself, `var` is for tests).
    pub fn parse(args: impl IntoIterator<Item = String>, var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let parsed = DesktopArgs::parse_from_args(args)?;
        let data_dir = parsed.data_dir.or_else(|| var("TOLLGATE_DATA_DIR").map(PathBuf::from));
        let addr = |given: Option<SocketAddr>, name: &str| -> Result<Option<SocketAddr>> {
            match given {
                Some(a) => Ok(Some(a)),
                None => var(name)
                    .map(|v| v.parse().with_context(|| format!("{name}='{v}' is not an address, e.g. 127.0.0.1:8402")))
                    .transpose(),
            }
        };
        let node = NodeOptions {
            admin_listen: addr(parsed.listen.admin_listen, "TOLLGATE_ADMIN_LISTEN")?,
            gateway_listen: addr(parsed.listen.gateway_listen, "TOLLGATE_GATEWAY_LISTEN")?,
            metrics_listen: addr(parsed.listen.metrics_listen, "TOLLGATE_METRICS_LISTEN")?,
            ui_dir: None,
            ..NodeOptions::default()
        };
        Ok(Self { data_dir, node })
    }
}

/// What of the window is remembered across launches.
const WINDOW_STATE: StateFlags = StateFlags::SIZE.union(StateFlags::POSITION).union(StateFlags::MAXIMIZED);

/// Starts the node, opens the window and runs until the operator quits; then every
/// pending charge is written before the process exits.
pub fn run(options: Options) -> Result<()> {
    let started = Instant::now();
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        bail!(
            "no display (DISPLAY and WAYLAND_DISPLAY are unset); run `tollgate serve` for the dashboard in a browser"
        );
    }
    let dir = DataDir::resolve(options.data_dir)?;
    if instance::show_running(&dir) {
        println!("Tollgate is already running on {}; its window is shown", dir.path().display());
        return Ok(());
    }
    let node = tauri::async_runtime::block_on(Node::start(dir.clone(), options.node))?;
    println!("Tollgate gateway listening on {}", node.gateway_url());
    println!("Tollgate admin API listening on {} (the CLI uses it while the app runs)", node.admin_url());
    println!("Data directory: {}", dir.path().display());
    let window_state =
        tauri_plugin_window_state::Builder::default().with_state_flags(WINDOW_STATE).build::<tauri::Wry>();
    let app = with_commands(tauri::Builder::default())
        .plugin(window_state)
        .plugin(tauri_plugin_notification::init())
        .manage(Desktop::new(node, started))
        .setup({
            let dir = dir.clone();
            move |app| {
                tray::create(app.handle());
                instance::listen(&dir, app.handle().clone());
                watch::spawn(app.handle().clone());
                handle_signals(app.handle().clone());
                show_eventually(app.handle().clone());
                Ok(())
            }
        })
        .on_page_load(|webview, payload| {
            // A reload leaves the old page's channels unanswered: end their feeds.
            if payload.event() == tauri::webview::PageLoadEvent::Started {
                webview.state::<Desktop>().end_all_feeds();
            }
        })
        .on_window_event(|window, event| {
            // Closing hides the window and keeps the gateway serving, unless the operator
            // turned that off; quitting is in the tray menu.
            if let WindowEvent::CloseRequested { api, .. } = event
                && window.state::<Desktop>().settings().close_to_tray
                && window.app_handle().tray_by_id(tray::ID).is_some()
            {
                api.prevent_close();
                let _ = window.hide();
            }
        })
        .build(context())
        .context("cannot start the desktop app")?;
    let stopped = Arc::new(AtomicBool::new(false));
    app.run(move |app, event| {
        // The node stops while the event loop still runs (the tray and window calls its
        // tasks make need the main thread), then the app exits for real.
        if let RunEvent::ExitRequested { api, .. } = event
            && !stopped.load(Ordering::SeqCst)
        {
            api.prevent_exit();
            // Saved now, while the window is certainly there and sized: the plugin saves
            // again at the very end, when the window may already be gone and its cached
            // size may predate the last resize.
            if let Err(e) = app.save_window_state(WINDOW_STATE) {
                tracing::warn!("cannot save the window's size and place: {e}");
            }
            let (app, dir, stopped) = (app.clone(), dir.clone(), stopped.clone());
            tauri::async_runtime::spawn(async move {
                if stopped.swap(true, Ordering::SeqCst) {
                    return;
                }
                // Before the lock is released, so a new owner's socket is never the one removed.
                instance::forget(&dir);
                match app.state::<Desktop>().stop().await {
                    Ok(()) => println!("Tollgate stopped cleanly"),
                    Err(e) => eprintln!("error while stopping: {e:#}"),
                }
                app.exit(0);
            });
        }
    });
    Ok(())
}

/// SIGINT and SIGTERM quit like the tray's Quit, so the ledger is flushed.
fn handle_signals<R: Runtime>(app: tauri::AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut interrupt), Ok(mut terminate)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
        else {
            return;
        };
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        app.exit(0);
    });
}

/// The window shows when the dashboard has painted; should the page never say so (a
/// broken build), show it anyway so the operator is not left with nothing.
fn show_eventually<R: Runtime>(app: tauri::AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        if let Some(window) = app.get_webview_window("main")
            && !window.is_visible().unwrap_or(true)
        {
            tracing::warn!("the dashboard did not report its first paint; showing the window anyway");
            let _ = window.show();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_data_dir_comes_from_the_flag_over_the_environment_and_other_arguments_pass() {
        let env = |name: &str| (name == "TOLLGATE_DATA_DIR").then(|| "/from/env".to_string());
        let o = Options::parse(args(&["--automation", "--data-dir", "/from/flag"]), env).unwrap();
        assert_eq!(o.data_dir.as_deref(), Some(std::path::Path::new("/from/flag")));
        let o = Options::parse(args(&["--data-dir=/eq"]), env).unwrap();
        assert_eq!(o.data_dir.as_deref(), Some(std::path::Path::new("/eq")));
        let o = Options::parse(args(&[]), env).unwrap();
        assert_eq!(o.data_dir.as_deref(), Some(std::path::Path::new("/from/env")));
        let e = Options::parse(args(&["--data-dir"]), env).unwrap_err().to_string();
        assert!(e.contains("--data-dir") && e.contains("value is required"), "{e}");
    }

    #[test]
    fn listen_addresses_are_checked_and_named() {
        let env = |name: &str| match name {
            "TOLLGATE_GATEWAY_LISTEN" => Some("127.0.0.1:0".to_string()),
            "TOLLGATE_ADMIN_LISTEN" => Some("localhost".to_string()),
            _ => None,
        };
        let e = Options::parse(args(&[]), env).unwrap_err().to_string();
        assert!(e.contains("TOLLGATE_ADMIN_LISTEN='localhost' is not an address"), "{e}");
        let ok = Options::parse(args(&[]), |n| (n == "TOLLGATE_GATEWAY_LISTEN").then(|| "127.0.0.1:0".into())).unwrap();
        assert_eq!(ok.node.gateway_listen, Some("127.0.0.1:0".parse().unwrap()));
    }
}
