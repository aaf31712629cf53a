//! Requests that could mean something else upstream: paths with dot segments or
//! encodings, credentials in odd bytes, broken bodies, missing or doubled `Host`.
//! Raw bytes on a socket, because HTTP clients tidy such requests before sending.

use tollgate_core::store::routes::RouteCreate;

use crate::harness::{World, json_of, status_of, world};

/// A world with `/v1/cheap` (cost 1) and `/v1/expensive` (cost 7, scope `admin`, which the
/// key lacks), beside the default `/v1`.
async fn priced() -> World {
    let w = world(100, 1).await;
    let upstream = format!("http://{}", w.upstream);
    w.run(RouteCreate {
        path_prefix: "/v1/cheap".into(),
        upstream_url: upstream.clone(),
        cost: Some(1),
        ..Default::default()
    })
    .await;
    w.run(RouteCreate {
        path_prefix: "/v1/expensive".into(),
        upstream_url: upstream,
        cost: Some(7),
        required_scope: Some("admin".into()),
        ..Default::default()
    })
    .await;
    w
}

fn get(path: &str, secret: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {secret}\r\nConnection: close\r\n\r\n")
        .into_bytes()
}

#[tokio::test]
async fn dot_segments_cannot_reach_another_route_at_this_ones_price() {
    let w = priced().await;
    for path in [
        "/v1/cheap/../expensive",
        "/v1/cheap/%2e%2e/expensive",
        "/v1/cheap/%2E%2E/expensive",
        "/v1/cheap/.%2e/expensive",
        "/v1/cheap//..//expensive/./x",
    ] {
        let r = w.raw(&get(path, &w.secret)).await;
        assert_eq!(status_of(&r), 403, "{path} is the expensive route, whose scope the key lacks: {r}");
        assert_eq!(json_of(&r)["code"], "SCOPE_NOT_GRANTED", "{path}");
    }
    assert_eq!(w.hits.count(), 0, "none reached the upstream");
    assert_eq!(w.balance().await, 100, "nothing charged");
}

#[tokio::test]
async fn the_normalised_path_is_what_the_upstream_gets_with_the_query_unchanged() {
    let w = priced().await;
    let r = w.raw(&get("/v1//cheap/./a/../%62?q=%2e%2e/x&y=1", &w.secret)).await;
    assert_eq!(status_of(&r), 200, "served: {r}");
    let echo = json_of(&r);
    assert_eq!(echo["path"], "/v1/cheap/b", "the upstream sees the normalised path");
    assert_eq!(echo["query"], "q=%2e%2e/x&y=1", "the query passes as sent");
    assert_eq!(w.balance().await, 99, "at the cheap route's price");
}

#[tokio::test]
async fn ambiguous_paths_are_refused_with_a_400_problem() {
    let w = priced().await;
    for (path, why) in [
        ("/v1/cheap/..%2fexpensive", "an encoded slash"),
        ("/v1/cheap/%2F../expensive", "an encoded slash"),
        ("/v1/cheap/..%5cexpensive", "an encoded backslash"),
        ("/../v1/cheap", "a climb above the root"),
        ("/v1/cheap/..;/expensive", "a dot segment with a parameter"),
        ("/v1/cheap/%zz", "a broken escape"),
    ] {
        let r = w.raw(&get(path, &w.secret)).await;
        assert_eq!(status_of(&r), 400, "{path}: {why}: {r}");
        assert!(r.contains("content-type: application/problem+json"), "{path}: a problem: {r}");
        let body = json_of(&r);
        assert_eq!(body["code"], "INVALID_PATH", "{path}");
        assert_eq!(body["instance"], path, "{path}: the path as sent");
    }
    let r = w.raw(&get("/v1/cheap\\..\\expensive", &w.secret)).await;
    assert_eq!(status_of(&r), 400, "a raw backslash is refused: {r}");
    assert_eq!(w.hits.count(), 0, "none reached the upstream");
    assert_eq!(w.balance().await, 100, "nothing charged");
}

#[tokio::test]
async fn a_bearer_key_that_is_not_ascii_is_invalid_and_never_forwarded() {
    let w = world(100, 1).await;
    let secret = w.secret.clone();
    let mut bad = format!("Authorization: Bearer {secret}").into_bytes();
    bad.push(0xff);
    let request = |extra: &[u8]| {
        [b"GET /v1/x HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n".as_slice(), extra, b"\r\n\r\n"].concat()
    };
    let alone = w.raw(&request(&bad)).await;
    assert_eq!(status_of(&alone), 401, "{alone}");
    assert_eq!(json_of(&alone)["code"], "INVALID_API_KEY", "a malformed key is invalid, not missing");

    let with_good_x_api_key = [bad.as_slice(), format!("\r\nX-API-Key: {secret}").as_bytes()].concat();
    let r = w.raw(&request(&with_good_x_api_key)).await;
    assert_eq!(status_of(&r), 401, "the bearer header is the key, and it is invalid: {r}");
    assert_eq!(w.hits.count(), 0, "the secret never went upstream");

    let mut odd_x_api_key = format!("Authorization: Bearer {secret}\r\nX-API-Key: tg_live_").into_bytes();
    odd_x_api_key.extend_from_slice(&[0xc3, 0x28]);
    odd_x_api_key.extend_from_slice(b"\r\nAuthorization: Basic dXNlcjpwdw==");
    let r = w.raw(&request(&odd_x_api_key)).await;
    assert_eq!(status_of(&r), 200, "a good bearer key is served: {r}");
    let h = &json_of(&r)["headers"];
    assert!(h.get("x-api-key").is_none(), "no X-API-Key upstream, whatever its bytes: {h}");
    assert_eq!(h["authorization"], "Basic dXNlcjpwdw==", "Basic auth is for the upstream and passes");
    assert!(!r.contains(&secret), "the key appears nowhere upstream");
}

#[tokio::test]
async fn a_malformed_chunked_body_is_the_clients_fault_and_costs_nothing() {
    let w = world(100, 3).await;
    let head = format!(
        "POST /v1/upload HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        w.secret
    );
    let r = w.raw(&[head.as_bytes(), b"5\r\nhello\r\nzz-not-a-size\r\n\r\n"].concat()).await;
    assert_eq!(status_of(&r), 400, "the client's fault: {r}");
    assert_eq!(json_of(&r)["code"], "BAD_REQUEST_BODY", "{r}");
    assert_eq!(w.balance().await, 100, "the reservation was released: nothing charged");
}

#[tokio::test]
async fn http_1_1_needs_exactly_one_host() {
    let w = world(100, 1).await;
    let auth = format!("Authorization: Bearer {}\r\nConnection: close\r\n", w.secret);
    for (request, why) in [
        (format!("GET /v1/x HTTP/1.1\r\n{auth}\r\n"), "no Host"),
        (format!("GET /v1/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n{auth}\r\n"), "two Host lines"),
        (format!("GET /v1/x HTTP/1.1\r\nHost: a b\r\n{auth}\r\n"), "an invalid Host"),
    ] {
        let r = w.raw(request.as_bytes()).await;
        assert_eq!(status_of(&r), 400, "{why}: {r}");
        assert_eq!(json_of(&r)["code"], "INVALID_HOST", "{why}");
    }
    assert_eq!(w.hits.count(), 0, "none was served");
    let r = w.raw(format!("GET /v1/x HTTP/1.0\r\n{auth}\r\n").as_bytes()).await;
    assert_eq!(status_of(&r), 200, "HTTP/1.0 may omit Host: {r}");
}
