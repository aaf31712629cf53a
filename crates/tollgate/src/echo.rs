//! `tollgate echo`: a stand-in upstream for trying the gateway before the real API is
//! wired up. It answers every request with 200 and a JSON echo of what arrived, so the
//! operator sees what the gateway forwards (and the headers it adds). `POST
//! …/chat/completions` answers as an OpenAI-shaped AI API with token usage
//! ([`crate::echo_completions`]), for trying routes metered by usage.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::IntoResponse;
use clap::Args;
use tokio::net::TcpListener;

/// Options of `tollgate echo`.
#[derive(Debug, Clone, Args)]
pub struct EchoArgs {
    /// Address to answer on; port 0 picks a free port (printed at start).
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
}

/// The echo of one request: method, path with query, and headers.
fn echo(method: &Method, uri: &Uri, headers: &HeaderMap) -> serde_json::Value {
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(name, value)| (name.to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned().into()))
        .collect();
    serde_json::json!({
        "method": method.as_str(),
        "path": uri.path_and_query().map_or(uri.path(), |p| p.as_str()),
        "headers": headers,
    })
}

/// Answers on `args.listen` until SIGINT/SIGTERM.
pub async fn run(args: EchoArgs) -> Result<()> {
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (pass --listen with a free address)", args.listen))?;
    let app = axum::Router::new().fallback(|method: Method, uri: Uri, headers: HeaderMap, body: Bytes| async move {
        if method == Method::POST && uri.path().ends_with("/chat/completions") {
            return crate::echo_completions::answer(body).await;
        }
        axum::Json(echo(&method, &uri, &headers)).into_response()
    });
    crate::out::line(&format!("Echo upstream listening on http://{}", listener.local_addr()?));
    axum::serve(listener, app).with_graceful_shutdown(crate::serve::shutdown_signal()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_method_path_query_and_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("x-tollgate-tenant", "acme".parse().unwrap());
        let uri: Uri = "/v1/search?q=x".parse().unwrap();
        let body = echo(&Method::POST, &uri, &headers);
        assert_eq!(body["method"], "POST");
        assert_eq!(body["path"], "/v1/search?q=x", "the query is kept");
        assert_eq!(body["headers"]["x-tollgate-tenant"], "acme");
    }
}
