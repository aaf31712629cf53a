//! `https://` upstreams in the real server: the system's trust store is the default (here
//! `SSL_CERT_FILE`, which rustls-native-certs reads as OpenSSL does), and a refused
//! certificate is logged with its reason for the operator.

use crate::process::{Server, binary, json};
use crate::tls_server::{nginx, pki};

#[test]
fn the_system_trust_store_verifies_by_default_and_a_refusal_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let trusted = pki("System-trusted");
    let server = nginx(&trusted, &["localhost"]);
    let stranger = pki("Stranger");
    json(d, &["plan", "create", "--name", "Pro", "--credits", "10"]);
    json(d, &["tenant", "create", "--name", "acme", "--plan", "pro"]);
    let secret = json(d, &["key", "issue", "--tenant", "acme"])["secret"].as_str().unwrap().to_string();
    let url = format!("https://localhost:{}", server.port);
    json(d, &["route", "create", "--path", "/v1", "--upstream", &url]);
    let wrong = d.join("stranger.pem");
    std::fs::write(&wrong, &stranger.root_pem).unwrap();
    json(d, &["route", "create", "--path", "/v2", "--upstream", &url, "--upstream-ca", &wrong.display().to_string()]);

    let roots = d.join("system-roots.pem");
    std::fs::write(&roots, &trusted.root_pem).unwrap();
    let mut cmd = binary();
    cmd.env("SSL_CERT_FILE", &roots).env_remove("SSL_CERT_DIR");
    let tollgate = Server::start_command(cmd, d, "warn");
    let client = reqwest::blocking::Client::new();
    let call = |path: &str| {
        let r = client.get(format!("{}{path}", tollgate.gateway)).bearer_auth(&secret).send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let (status, body) = call("/v1/ok");
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("tls /v1/ok"), "nginx answered over TLS: {body}");
    let (status, body) = call("/v2/no");
    assert_eq!(status, 502, "the route's own CA replaces the system's: {body}");
    let (_, output) = tollgate.stop();
    assert!(
        output.contains("upstream unreachable") && output.contains("invalid peer certificate: UnknownIssuer"),
        "the operator's log says why:\n{output}"
    );
    assert_eq!(json(d, &["tenant", "show", "--tenant", "acme"])["tenant"]["balance"], 9, "one call charged");
}
