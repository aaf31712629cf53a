use tollgate_core::ConsoleError;
use tollgate_core::store::routes::{RouteCreate, RouteDelete, RouteList, RouteUpdate};

use crate::common::{assert_code, assert_invalid, world};

fn route(path: &str, methods: &[&str]) -> RouteCreate {
    RouteCreate {
        path_prefix: path.into(),
        methods: methods.iter().map(|m| m.to_string()).collect(),
        upstream_url: "http://127.0.0.1:9000".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn create_normalizes_and_defaults() {
    let w = world().await;
    let r = w
        .run(RouteCreate { required_feature: Some("search".into()), ..route("/v1/search", &["post", "get", "GET"]) })
        .await
        .unwrap();
    assert_eq!(r.methods, ["GET", "POST"], "methods upper-cased, de-duplicated, sorted");
    assert_eq!(r.cost, 1, "a call costs 1 credit by default");
    assert_eq!(r.required_feature.as_deref(), Some("search"), "feature kept");
}

#[tokio::test]
async fn create_rejects_bad_input_and_overlaps() {
    let w = world().await;
    w.run(route("/v1", &["GET"])).await.unwrap();
    let before = w.dump().await;
    assert_invalid(w.run(route("v1/no-slash", &[])).await, "path_prefix");
    assert_invalid(w.run(route("/v1?x=1", &[])).await, "path_prefix");
    assert_invalid(w.run(route("/v2", &["FETCH"])).await, "methods");
    assert_invalid(
        w.run(RouteCreate { upstream_url: "file:///etc/passwd".into(), ..route("/v2", &[]) }).await,
        "upstream_url",
    );
    assert_invalid(
        w.run(RouteCreate { upstream_url: "https://user:pw@api.example.com".into(), ..route("/v2", &[]) }).await,
        "upstream_url",
    );
    assert_invalid(w.run(RouteCreate { cost: Some(-1), ..route("/v2", &[]) }).await, "cost");
    assert_invalid(
        w.run(RouteCreate { required_scope: Some("Bad Scope".into()), ..route("/v2", &[]) }).await,
        "required_scope",
    );
    assert_code(w.run(route("/v1", &["GET", "POST"])).await, "ROUTE_EXISTS");
    assert_code(w.run(route("/v1", &[])).await, "ROUTE_EXISTS");
    assert_eq!(w.dump().await, before, "refused routes change nothing");
    w.run(route("/v1", &["POST"])).await.expect("the same prefix for other methods is fine");
}

#[tokio::test]
async fn update_delete_and_list() {
    let w = world().await;
    let r = w.run(RouteCreate { required_feature: Some("search".into()), ..route("/v1", &[]) }).await.unwrap();
    let u = w
        .run(RouteUpdate { id: r.id, cost: Some(5), required_feature: Some("".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!((u.cost, u.required_feature.clone()), (5, None), "cost changed, feature cleared");
    assert_eq!(u.upstream_url, r.upstream_url, "untouched fields stay");
    assert_invalid(w.run(RouteUpdate { id: r.id, cost: Some(-2), ..Default::default() }).await, "cost");
    assert_code(w.run(RouteUpdate { id: 999, ..Default::default() }).await, "NOT_FOUND");
    w.run(route("/v2", &[])).await.unwrap();
    assert_eq!(w.run(RouteList {}).await.unwrap().len(), 2, "both listed");
    let gone = w.run(RouteDelete { id: r.id }).await.unwrap();
    assert_eq!(gone.id, r.id, "delete returns what it removed");
    assert_code(w.run(RouteDelete { id: r.id }).await, "NOT_FOUND");
    assert_eq!(w.run(RouteList {}).await.unwrap().len(), 1, "one left");
}

/// A private CA in PEM, as an operator's file holds it.
fn ca_pem() -> String {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.self_signed(&rcgen::KeyPair::generate().unwrap()).unwrap().pem()
}

#[tokio::test]
async fn https_upstreams_take_a_private_ca_and_refuse_what_is_not_one() {
    let w = world().await;
    let https = |ca: Option<String>| RouteCreate {
        upstream_url: "https://api.internal:8443/v2".into(),
        upstream_ca: ca,
        ..route("/v2", &[])
    };
    let before = w.dump().await;
    let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    for (bad, why) in [
        ("/etc/ssl/private-ca.pem".to_string(), "a path, not the file's text"),
        (key, "a private key"),
        ("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n".into(), "broken PEM"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(), "PEM that is no certificate"),
    ] {
        match w.run(https(Some(bad))).await {
            Err(ConsoleError::Invalid { field, message }) => {
                assert_eq!(field, "upstream_ca", "{why}: {message}");
                println!("{why}: {message}");
            }
            other => panic!("{why}: expected an input error, got {other:?}"),
        }
    }
    let on_http = RouteCreate { upstream_ca: Some(ca_pem()), ..route("/v2", &[]) };
    assert_invalid(w.run(on_http).await, "upstream_ca");
    assert_eq!(w.dump().await, before, "refused routes change nothing");

    let pem = ca_pem();
    let r = w.run(https(Some(format!("\n{pem}\n")))).await.unwrap();
    assert_eq!(r.upstream_url, "https://api.internal:8443/v2");
    assert_eq!(r.upstream_ca.as_deref(), Some(pem.trim()), "kept, trimmed");
    let plain = w.run(RouteCreate { upstream_url: "https://api.example.com".into(), ..route("/v3", &[]) }).await;
    assert_eq!(plain.unwrap().upstream_ca, None, "the system's trust store");

    // Updating the URL keeps the CA; an empty CA clears it; a CA left on an http URL is refused.
    let u = w.run(RouteUpdate { id: r.id, upstream_url: Some("https://api2.internal".into()), ..Default::default() });
    assert_eq!(u.await.unwrap().upstream_ca.as_deref(), Some(pem.trim()));
    let to_http = RouteUpdate { id: r.id, upstream_url: Some("http://api2.internal".into()), ..Default::default() };
    assert_invalid(w.run(to_http).await, "upstream_ca");
    let cleared = w.run(RouteUpdate {
        id: r.id,
        upstream_url: Some("http://api2.internal".into()),
        upstream_ca: Some(String::new()),
        ..Default::default()
    });
    assert_eq!(cleared.await.unwrap().upstream_ca, None);
}
