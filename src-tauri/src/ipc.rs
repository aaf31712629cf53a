//! The IPC adapter: the webview's only way in. One generic command carries every console
//! command by name (so none can be missing), plus the live feed and the demo loader.
//! Errors cross as `{code, message, field?}`, as over HTTP.

use serde_json::Value;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime, State};
use tollgate::demo::DemoReport;
use tollgate_core::console::command::dispatch_detached;
use tollgate_core::live::event_filter::EventFilter;
use tollgate_core::{ConsoleError, Ctx, ErrorBody};

use crate::Desktop;
use crate::connections::{Connection, Listing};
use crate::feed;

/// Who acts in the audit log for everything done in the window: `desktop:` and the OS user.
pub fn actor() -> String {
    tollgate::os_user::actor("desktop")
}

/// Runs the console command `name` with `input` (absent means `{}`), to the end even if
/// the window stops waiting (the command is its own task).
#[tauri::command]
pub async fn console(state: State<'_, Desktop>, name: String, input: Option<Value>) -> Result<Value, ErrorBody> {
    let input = input.filter(|v| !v.is_null()).unwrap_or_else(|| Value::Object(Default::default()));
    if let Some(remote) = state.connections().active_client(actor)? {
        return remote.call(&name, &input).await.map_err(|e| e.body());
    }
    dispatch_detached(state.console(), Ctx::now(actor()), name.clone(), input).await.map_err(|e| {
        if let ConsoleError::Store(source) = &e {
            tracing::error!(error = %source, command = %name, "console command failed in storage");
        }
        e.body()
    })
}

/// Streams the hub's events matching `filter` into `channel` until `unsubscribe`.
#[tauri::command]
pub fn subscribe(
    state: State<'_, Desktop>,
    filter: Option<EventFilter>,
    channel: Channel<feed::Batch>,
) -> Result<u32, ErrorBody> {
    let filter = filter.unwrap_or_default();
    let matcher = filter.matcher().map_err(|e| e.body())?;
    if let Some(remote) = state.connections().active_client(actor)? {
        let query = filter.query_string();
        return Ok(state.start_feed(feed::forward_remote(remote, query, move |batch| channel.send(batch).is_ok())));
    }
    let events = state.console().hub().subscribe();
    Ok(state.start_feed(feed::forward(events, matcher, move |batch| channel.send(batch).is_ok())))
}

/// Ends a feed started by `subscribe`.
#[tauri::command]
pub fn unsubscribe(state: State<'_, Desktop>, id: u32) -> bool {
    state.end_feed(id)
}

/// The remote servers and the one in use (`active`: `null` for this app's own node).
#[tauri::command]
pub fn connections(state: State<'_, Desktop>) -> Listing {
    state.connections().list()
}

/// Adds a remote `tollgate serve` by admin URL and token, after reaching it: the
/// certificate it presents is pinned (trust on first use), the token kept in the keyring.
#[tauri::command]
pub async fn connection_add(
    state: State<'_, Desktop>,
    name: String,
    url: String,
    token: String,
) -> Result<Connection, ErrorBody> {
    state.connections().add(&name, &url, &token, actor()).await
}

/// Forgets a remote server and its token.
#[tauri::command]
pub fn connection_remove(state: State<'_, Desktop>, id: String) -> Result<(), ErrorBody> {
    // The feeds follow the active server: only removing that one ends them (the window reloads).
    if state.connections().list().active.as_deref() == Some(id.as_str()) {
        state.end_all_feeds();
    }
    state.connections().remove(&id)
}

/// Switches the whole console to the server `id` (`null`: this app's own node); the
/// window reloads its screens after.
#[tauri::command]
pub fn connection_use(state: State<'_, Desktop>, id: Option<String>) -> Result<(), ErrorBody> {
    state.end_all_feeds();
    state.connections().activate(id.as_deref())
}

/// Seeds demo data and starts demo traffic through the in-process gateway.
#[tauri::command]
pub async fn load_demo(state: State<'_, Desktop>) -> Result<DemoReport, ErrorBody> {
    if state.connections().list().active.is_some() {
        return Err(ErrorBody {
            code: "REMOTE_CONNECTION".into(),
            message: "the demo seeds this app's own node, and the console manages a remote server: switch to \"This computer\" in Settings → Connections first".into(),
            field: None,
        });
    }
    state.demo().launch(state.console()).await.map(|(report, _, _)| report).map_err(|e| e.body())
}

/// The dashboard has painted: show the window (hidden until then, so it never flashes
/// blank) and log the start-up time once.
#[tauri::command]
pub fn app_ready<R: Runtime>(app: AppHandle<R>, state: State<'_, Desktop>) {
    if let Some(elapsed) = state.first_paint() {
        tracing::info!(ms = elapsed.as_millis() as u64, "first paint");
        println!("Tollgate desktop: first paint after {} ms", elapsed.as_millis());
    }
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.show();
    }
}
