//! `https://` upstreams against a real TLS server, Debian's nginx, serving a chain from a
//! certificate authority this test makes: a valid chain is served (and its connections
//! kept, bodies sent through the session whole), a wrong CA or a name the certificate does
//! not hold is refused with 502 and nothing charged.

use tollgate_core::store::routes::{RouteCreate, RouteList, RouteUpdate};

use crate::harness::{World, world};
use crate::tls_server::{nginx, pki};

async fn https_route(w: &World, prefix: &str, url: String, ca: Option<&str>) {
    w.run(RouteCreate {
        path_prefix: prefix.into(),
        upstream_url: url,
        upstream_ca: ca.map(str::to_string),
        cost: Some(2),
        ..Default::default()
    })
    .await;
}

/// The answer's status, body and `code` (for a problem).
async fn call(w: &World, path: &str) -> (u16, String) {
    let r = w.get(path).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

fn connection_of(body: &str) -> &str {
    body.rsplit("conn=").next().unwrap()
}

#[tokio::test]
async fn a_private_ca_chain_is_served_and_its_connections_are_kept() {
    let pki = pki("Acme private");
    let server = nginx(&pki, &["localhost"]);
    let w = world(100, 1).await;
    https_route(&w, "/secure", format!("https://localhost:{}/api", server.port), Some(&pki.root_pem)).await;

    let (status, first) = call(&w, "/secure/x?q=1").await;
    assert_eq!(status, 200, "{first}");
    assert!(first.starts_with(&format!("tls /api/secure/x?q=1 host=localhost:{}", server.port)), "{first}");
    assert_eq!(w.balance().await, 98, "charged the route's cost");
    let (_, second) = call(&w, "/secure/y").await;
    assert_eq!(connection_of(&second), connection_of(&first), "the TLS connection is kept and reused");

    // A body over TLS, its length known and not: sent whole through the session, answered.
    for chunked in [false, true] {
        let payload = vec![b'x'; 1 << 20];
        let body = if chunked {
            let frames = payload
                .chunks(64 << 10)
                .map(|c| Ok::<_, std::io::Error>(hyper::body::Frame::data(bytes::Bytes::copy_from_slice(c))))
                .collect::<Vec<_>>();
            reqwest::Body::wrap(http_body_util::StreamBody::new(futures_util::stream::iter(frames)))
        } else {
            reqwest::Body::from(payload)
        };
        let r =
            w.client.post(format!("{}/secure/upload", w.url)).bearer_auth(&w.secret).body(body).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert_eq!(status, 200, "chunked {chunked}: {text}");
        assert!(text.starts_with("tls /api/secure/upload"), "chunked {chunked}: {text}");
    }
    assert_eq!(w.balance().await, 100 - 4 * 2, "each call charged once");
}

#[tokio::test]
async fn a_wrong_ca_or_the_system_store_is_refused_with_502_and_nothing_charged() {
    let served = pki("Served");
    let other = pki("Other");
    let server = nginx(&served, &["localhost"]);
    let w = world(100, 1).await;
    let url = format!("https://localhost:{}", server.port);
    https_route(&w, "/wrong", url.clone(), Some(&other.root_pem)).await;
    // No private CA: the system's store, which does not hold this test's CA.
    https_route(&w, "/system", url.clone(), None).await;
    for path in ["/wrong/x", "/system/x"] {
        let (status, body) = call(&w, path).await;
        assert_eq!(status, 502, "{path}: {body}");
        assert!(body.contains("UPSTREAM_UNAVAILABLE"), "{path}: {body}");
    }
    assert_eq!(w.balance().await, 100, "refused upstreams cost nothing");

    // The operator gives the right CA: the next request passes.
    let routes = w.run(RouteList {}).await.0;
    let route = routes.iter().find(|r| r.path_prefix == "/wrong").unwrap();
    w.run(RouteUpdate { id: route.id, upstream_ca: Some(served.root_pem.clone()), ..Default::default() }).await;
    let (status, body) = call(&w, "/wrong/x").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused() {
    let pki = pki("Names");
    let server = nginx(&pki, &["upstream.internal"]);
    let w = world(100, 1).await;
    // The certificate names upstream.internal; the route reaches the same server as localhost
    // and as 127.0.0.1, neither of which it names.
    https_route(&w, "/dns", format!("https://localhost:{}", server.port), Some(&pki.root_pem)).await;
    https_route(&w, "/ip", format!("https://127.0.0.1:{}", server.port), Some(&pki.root_pem)).await;
    for path in ["/dns/x", "/ip/x"] {
        let (status, body) = call(&w, path).await;
        assert_eq!(status, 502, "{path}: {body}");
    }
    assert_eq!(w.balance().await, 100);
}
