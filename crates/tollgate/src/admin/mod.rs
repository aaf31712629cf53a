//! The admin HTTP API: one `POST /api/<command>` route per console command, generated
//! from the command list, behind a bearer token and a `Host`/`Origin` check; and
//! `GET /metrics` for Prometheus, behind the same token.

mod dashboard;
mod events;
mod guard;
mod json_errors;
mod openapi;
pub mod typescript;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tollgate_core::console::command::{self, Command, CommandVisitor, parse_input_bytes};
use tollgate_core::{Console, ConsoleError, Ctx};

pub use dashboard::Dashboard;
pub use guard::allowed_hosts;

use crate::demo::{DemoError, DemoLauncher};
use crate::metrics::NodeMetrics;

/// What every admin request can reach.
#[derive(Clone)]
pub struct AdminState {
    pub console: Console,
    /// The bearer token clients must present.
    pub token: Arc<str>,
    /// `Host` values this server answers to (anything else may be DNS rebinding); empty
    /// when it serves TLS, whose certificate check already binds the name for a browser.
    pub hosts: Arc<[String]>,
    /// Set to `true` when the server stops, so long-lived event streams end.
    pub stopping: Arc<tokio::sync::watch::Sender<bool>>,
    /// Starts the demo from the dashboard; absent where no gateway runs.
    pub demo: Option<DemoLauncher>,
    /// The built dashboard served on `/`.
    pub dashboard: Dashboard,
    /// What `GET /metrics` reads; absent where no gateway runs.
    pub metrics: Option<Arc<NodeMetrics>>,
}

impl AdminState {
    /// State for a server bound to `addr`.
    pub fn new(console: Console, token: &str, addr: SocketAddr) -> Self {
        let stopping = Arc::new(tokio::sync::watch::channel(false).0);
        Self {
            console,
            token: token.into(),
            hosts: allowed_hosts(addr).into(),
            stopping,
            demo: None,
            dashboard: Dashboard::default(),
            metrics: None,
        }
    }

    /// The server speaks TLS: it answers to whatever name reaches it (consoles on other
    /// machines know it by theirs), and a browser's `Origin` must be `https://` that name.
    pub fn with_tls(mut self) -> Self {
        self.hosts = Arc::new([]);
        self
    }

    /// Lets `POST /api/demo` seed demo data and start traffic through this launcher.
    pub fn with_demo(mut self, demo: DemoLauncher) -> Self {
        self.demo = Some(demo);
        self
    }

    /// Serves this dashboard on `/`.
    pub fn with_dashboard(mut self, dashboard: Dashboard) -> Self {
        self.dashboard = dashboard;
        self
    }

    /// Serves these metrics on `GET /metrics` (with the token).
    pub fn with_metrics(mut self, metrics: Arc<NodeMetrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Ends every open event stream, so a graceful shutdown does not wait on them.
    pub fn stop_streams(&self) {
        self.stopping.send_replace(true);
    }
}

/// Header naming who acts, recorded in the audit log (e.g. `cli:alice`).
pub const ACTOR_HEADER: &str = "x-tollgate-actor";

struct Routes(Router<AdminState>);

impl CommandVisitor for Routes {
    fn visit<C: Command>(&mut self) {
        let router = std::mem::take(&mut self.0);
        let handler = post(run::<C>).layer(axum::extract::DefaultBodyLimit::max(C::MAX_INPUT_BYTES));
        self.0 = router.route(&format!("/api/{}", C::NAME), handler);
    }
}

/// The admin API's router; tests call it directly, `serve` binds it.
pub fn router(state: AdminState) -> Router {
    let mut routes = Routes(
        Router::new()
            .route("/api/events", get(events::stream_events))
            .route("/api/demo", post(load_demo))
            .route("/metrics", get(metrics)),
    );
    command::visit_all(&mut routes);
    let authed = routes.0.layer(axum::middleware::from_fn_with_state(state.clone(), guard::require_token));
    Router::new()
        .route("/api/openapi.json", get(openapi::document))
        .merge(authed)
        .fallback(not_api)
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::check_host))
        .layer(axum::middleware::from_fn(json_errors::as_json))
        .with_state(state)
}

/// Anything that is not an API route: the dashboard's files for `GET`, else 404.
async fn not_api(state: State<AdminState>, request: axum::extract::Request) -> Response {
    let is_page = matches!(*request.method(), axum::http::Method::GET | axum::http::Method::HEAD)
        && !request.uri().path().starts_with("/api/");
    if is_page {
        return dashboard::serve_file(state, request).await;
    }
    error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such admin route")
}

/// `GET /metrics`: the node's numbers for Prometheus (the token is checked before).
async fn metrics(State(state): State<AdminState>) -> Response {
    match state.metrics {
        Some(metrics) => crate::metrics::scrape(State(metrics)).await,
        None => error(StatusCode::NOT_FOUND, "NOT_FOUND", "this server runs no gateway to report on"),
    }
}

/// `POST /api/demo`: the dashboard's "Load demo data" on an empty console.
async fn load_demo(State(state): State<AdminState>) -> Response {
    let Some(demo) = &state.demo else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "this server runs no gateway to send demo traffic to");
    };
    match demo.launch(&state.console).await {
        Ok((report, _, _)) => axum::Json(report).into_response(),
        Err(e) => {
            let status = match e {
                DemoError::NotEmpty | DemoError::GatewayHttps => StatusCode::CONFLICT,
                DemoError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            (status, axum::Json(e.body())).into_response()
        }
    }
}

/// Runs one command to the end even if its client hangs up (the command is its own task).
async fn run<C: Command>(State(state): State<AdminState>, headers: HeaderMap, body: Bytes) -> Response {
    let ctx = Ctx::now(actor(&headers));
    let result = async { command::run_detached(&state.console, ctx, parse_input_bytes::<C>(&body)?).await }.await;
    match result {
        Ok(output) => axum::Json(output).into_response(),
        Err(e) => console_error(e),
    }
}

fn actor(headers: &HeaderMap) -> String {
    headers
        .get(ACTOR_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().chars().filter(|c| !c.is_control()).take(100).collect::<String>())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "admin-api".to_string())
}

/// A console error as an HTTP answer; storage details go to the log, never to the client.
pub fn console_error(e: ConsoleError) -> Response {
    let status = match &e {
        ConsoleError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        ConsoleError::NotFound { .. } | ConsoleError::UnknownCommand(_) => StatusCode::NOT_FOUND,
        ConsoleError::Conflict { .. } | ConsoleError::InsufficientCredits { .. } => StatusCode::CONFLICT,
        ConsoleError::StorageUnavailable(source) => {
            tracing::error!(error = %source, "console command refused: storage is failing");
            StatusCode::SERVICE_UNAVAILABLE
        }
        ConsoleError::Store(source) => {
            tracing::error!(error = %source, "console command failed in storage");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    (status, axum::Json(e.body())).into_response()
}

/// A `{code, message}` answer for errors outside the console commands.
pub fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "code": code, "message": message }))).into_response()
}
