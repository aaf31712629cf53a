//! Passing a request to the upstream and its answer back, streaming both bodies, with the
//! headers RFC 9110 says a proxy must not forward removed and the client's API key withheld.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::Body;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// The header carrying the key when it is not in `Authorization`.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Removes hop-by-hop headers, including those the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(&named) {
        headers.remove(name);
    }
}

/// The API key a request presents: `Authorization: Bearer …`, else `X-API-Key`.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|k| !k.is_empty());
    bearer
        .or_else(|| headers.get(API_KEY_HEADER).and_then(|v| v.to_str().ok()).map(str::trim).filter(|k| !k.is_empty()))
}

/// Who the upstream is told about.
pub struct Caller<'a> {
    pub request_id: &'a str,
    pub tenant: &'a str,
    pub plan: &'a str,
    /// The client's address, as text.
    pub client_ip: &'a str,
}

/// `base` joined with the request's path and query: `http://up/api` + `/v1/x?q=1`.
pub fn upstream_url(base: &str, path_and_query: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path_and_query)
}

/// Builds the upstream request: same method and body (streamed as it arrives), cleaned
/// headers, the caller's identity in `X-Tollgate-*`, and never the API key.
pub fn upstream_request(
    url: &str,
    request: Request<Incoming>,
    caller: &Caller,
) -> Result<Request<Incoming>, http::Error> {
    let (mut parts, body) = request.into_parts();
    let headers = &mut parts.headers;
    strip_hop_by_hop(headers);
    headers.remove(header::HOST);
    headers.remove(API_KEY_HEADER);
    let is_bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer "));
    if is_bearer {
        headers.remove(header::AUTHORIZATION);
    }
    let forwarded_for = headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(|earlier| format!("{earlier}, {}", caller.client_ip));
    for (name, value) in [
        ("x-request-id", caller.request_id),
        ("x-tollgate-tenant", caller.tenant),
        ("x-tollgate-plan", caller.plan),
        ("x-forwarded-for", forwarded_for.as_deref().unwrap_or(caller.client_ip)),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    parts.uri = url.parse()?;
    parts.version = http::Version::HTTP_11;
    Ok(Request::from_parts(parts, body))
}

/// The upstream's answer for the client, body streamed as it arrives.
pub fn client_response(upstream: Response<Incoming>) -> Response<Body> {
    let (mut parts, body) = upstream.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Response::from_parts(parts, body.map_err(Into::into).boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_bearer_or_x_api_key() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_key(&h), None, "no key");
        h.insert(API_KEY_HEADER, "tg_live_x".parse().unwrap());
        assert_eq!(presented_key(&h), Some("tg_live_x"), "X-API-Key");
        h.insert(header::AUTHORIZATION, "Bearer tg_live_y".parse().unwrap());
        assert_eq!(presented_key(&h), Some("tg_live_y"), "Bearer wins");
        h.insert(header::AUTHORIZATION, "Basic dXNlcjpwdw==".parse().unwrap());
        assert_eq!(presented_key(&h), Some("tg_live_x"), "Basic auth is for the upstream, not a key");
    }

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_names_go() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, "close, x-secret-hop".parse().unwrap());
        h.insert("x-secret-hop", "1".parse().unwrap());
        h.insert(header::TRANSFER_ENCODING, "chunked".parse().unwrap());
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "only end-to-end headers stay: {h:?}");
        assert!(h.contains_key(header::CONTENT_TYPE), "content-type is end-to-end");
    }

    #[test]
    fn urls_join_without_double_slashes() {
        assert_eq!(upstream_url("http://127.0.0.1:9000/", "/v1/x?q=1"), "http://127.0.0.1:9000/v1/x?q=1", "joined");
        assert_eq!(upstream_url("http://up/api", "/v1"), "http://up/api/v1", "base path kept");
    }
}
