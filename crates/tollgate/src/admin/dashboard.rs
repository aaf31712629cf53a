//! The built dashboard (`ui/dist`), served as static files beside the admin API. The files
//! are public (no token): the page learns the token from the URL it was opened with.

use std::path::{Component, Path, PathBuf};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{AdminState, error};

/// Where the built dashboard is, if anywhere.
#[derive(Debug, Clone, Default)]
pub struct Dashboard {
    root: Option<PathBuf>,
}

impl Dashboard {
    /// `explicit`, else this source tree's `ui/dist` (for `make run`), else
    /// `../share/tollgate/ui` beside the executable (an installed layout); only a
    /// directory holding `index.html` counts.
    pub fn find(explicit: Option<PathBuf>) -> Self {
        let installed =
            std::env::current_exe().ok().and_then(|exe| exe.parent().map(|bin| bin.join("../share/tollgate/ui")));
        let mut candidates =
            explicit.into_iter().chain([Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/dist")]).chain(installed);
        Self { root: candidates.find(|dir| dir.join("index.html").is_file()) }
    }

    /// A dashboard served from `root` (tests).
    pub fn at(root: PathBuf) -> Self {
        Self { root: Some(root) }
    }

    /// The directory served, when one was found.
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }
}

/// Who may embed or feed the page: only this server. Styles allow inline attributes,
/// which the chart library sets.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
                   form-action 'self'";

/// `GET` of anything outside `/api/`: a file of the dashboard, `index.html` for `/`.
pub async fn serve_file(State(state): State<AdminState>, request: Request) -> Response {
    let Some(root) = state.dashboard.root() else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "the dashboard is not built; run `make ui`");
    };
    let path = request.uri().path();
    let Some(relative) = safe_relative(if path == "/" { "/index.html" } else { path }) else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such file");
    };
    let file = root.join(&relative);
    let Ok(bytes) = tokio::fs::read(&file).await else {
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "no such file");
    };
    let mut response = Body::from(bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&relative)));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    // Vite names assets by content hash; the page itself must always be fresh.
    let cache = if relative.starts_with("assets") { "public, max-age=31536000, immutable" } else { "no-cache" };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// The request path as a relative path with no `..`, root or prefix components.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let mut relative = PathBuf::new();
    for component in Path::new(path.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(relative)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_served() {
        assert_eq!(safe_relative("/assets/app.js"), Some(PathBuf::from("assets/app.js")), "a file");
        assert_eq!(safe_relative("/../etc/passwd"), None, "no climbing out");
        assert_eq!(safe_relative("/assets/../../x"), None, "not in the middle either");
        assert_eq!(safe_relative("/./index.html"), Some(PathBuf::from("index.html")), "`.` is harmless");
    }
}
