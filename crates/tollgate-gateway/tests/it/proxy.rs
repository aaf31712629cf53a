//! What crosses the gateway: headers in both directions, paths and queries (large bodies
//! streamed: streaming.rs).

use crate::harness::world;

#[tokio::test]
async fn the_upstream_learns_who_calls_and_never_sees_the_key() {
    let w = world(100, 1).await;
    let r = w
        .client
        .post(format!("{}/v1/search/deep?q=rust&page=2", w.url))
        .bearer_auth(&w.secret)
        .header("x-custom", "kept")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "dropped")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "served");
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(r.headers()["x-credits-remaining"], "99", "the client sees its balance");
    let echo: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        (echo["method"].as_str(), echo["path"].as_str()),
        (Some("POST"), Some("/v1/search/deep")),
        "method and path"
    );
    assert_eq!(echo["query"], "q=rust&page=2", "the query passes unchanged");
    let h = &echo["headers"];
    assert_eq!(h["x-request-id"], id.as_str(), "the same request id upstream and downstream");
    assert_eq!(
        (h["x-tollgate-tenant"].as_str(), h["x-tollgate-plan"].as_str()),
        (Some("acme"), Some("pro")),
        "who calls"
    );
    assert_eq!(h["x-custom"], "kept", "end-to-end headers pass");
    assert!(h.get("authorization").is_none(), "the API key never reaches the upstream");
    assert!(h.get("x-hop").is_none(), "headers named by Connection are hop-by-hop");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1", "the client address");
    let all = echo.to_string();
    assert!(!all.contains(&w.secret), "the secret appears nowhere upstream");
}
