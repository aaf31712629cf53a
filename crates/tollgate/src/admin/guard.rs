//! Who may talk to the admin API: only clients that name this server in `Host` (and, from
//! a browser, in `Origin`), and that present the bearer token.

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{AdminState, error};

/// The `Host` values a server bound to `addr` answers to: the address itself and, on
/// loopback, `localhost` and both loopback literals.
pub fn allowed_hosts(addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    let mut hosts = vec![match addr {
        SocketAddr::V4(a) => format!("{}:{port}", a.ip()),
        SocketAddr::V6(a) => format!("[{}]:{port}", a.ip()),
    }];
    if addr.ip().is_loopback() || addr.ip().is_unspecified() {
        for h in ["localhost", "127.0.0.1", "[::1]"] {
            let h = format!("{h}:{port}");
            if !hosts.contains(&h) {
                hosts.push(h);
            }
        }
    }
    hosts
}

/// Refuses requests whose `Host` or `Origin` is not this server: a page on another site
/// that resolves its name to 127.0.0.1 (DNS rebinding) must not reach the API.
pub async fn check_host(State(state): State<AdminState>, request: Request, next: Next) -> Response {
    if let Err(message) = host_ok(&state.hosts, request.headers()) {
        return error(StatusCode::FORBIDDEN, "FORBIDDEN_HOST", &message);
    }
    next.run(request).await
}

fn host_ok(hosts: &[String], headers: &HeaderMap) -> Result<(), String> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    if hosts.is_empty() {
        // TLS: any name, and a browser only from this very origin.
        return match headers.get(header::ORIGIN).map(|o| o.to_str().unwrap_or("").to_ascii_lowercase()) {
            Some(origin) if origin != format!("https://{host}") => {
                Err(format!("Origin '{origin}' may not call this API"))
            }
            _ => Ok(()),
        };
    }
    if !hosts.contains(&host) {
        return Err(format!("Host '{host}' is not this server; use one of {}", hosts.join(", ")));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
        if !hosts.iter().any(|h| origin == format!("http://{h}")) {
            return Err(format!("Origin '{origin}' may not call this API"));
        }
    }
    Ok(())
}

/// Refuses requests without `Authorization: Bearer <token>`.
pub async fn require_token(State(state): State<AdminState>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(t) if constant_time_eq(t.as_bytes(), state.token.as_bytes()) => next.run(request).await,
        Some(_) => unauthorized("the admin token is wrong"),
        None => unauthorized(
            "send the admin token as 'Authorization: Bearer <token>' (it is in the data directory's admin-token file)",
        ),
    }
}

fn unauthorized(message: &str) -> Response {
    let mut response = error(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, "Bearer realm=\"tollgate-admin\"".parse().expect("static header"));
    response.into_response()
}

/// Compares secrets in time independent of where they first differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_servers_answer_to_local_names_only() {
        let hosts = allowed_hosts("127.0.0.1:8401".parse().unwrap());
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "localhost:8401".parse().unwrap());
        assert!(host_ok(&hosts, &h).is_ok(), "localhost with the right port is this server");
        h.insert(header::HOST, "evil.example:8401".parse().unwrap());
        assert!(host_ok(&hosts, &h).is_err(), "a foreign name is refused");
        h.insert(header::HOST, "127.0.0.1:8401".parse().unwrap());
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(host_ok(&hosts, &h).is_err(), "a foreign Origin is refused even with a good Host");
        h.insert(header::ORIGIN, "http://127.0.0.1:8401".parse().unwrap());
        assert!(host_ok(&hosts, &h).is_ok(), "the server's own origin is fine");
    }

    #[test]
    fn tls_servers_answer_to_any_name_but_browsers_only_from_it() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "console.example:8401".parse().unwrap());
        assert!(host_ok(&[], &h).is_ok(), "a remote console names the server its own way");
        h.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(host_ok(&[], &h).is_err(), "another site's page is refused");
        h.insert(header::ORIGIN, "https://console.example:8401".parse().unwrap());
        assert!(host_ok(&[], &h).is_ok(), "the dashboard served by this server is fine");
    }

    #[test]
    fn token_comparison_needs_equal_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"), "equal tokens match");
        assert!(!constant_time_eq(b"abc", b"abd"), "one differing byte fails");
        assert!(!constant_time_eq(b"abc", b"abcd"), "a prefix is not the token");
    }
}
