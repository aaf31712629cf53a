//! The gateway over HTTPS, with HTTP/2 and HTTP/1.1 by ALPN, checked with real clients no
//! one here wrote: curl (both protocols) and h2load (nghttp2). Every answer is the same over
//! both; the certificate is replaced under load (SIGHUP) without one request failing, and
//! new connections then get the new certificate.

use std::path::Path;
use std::process::Command;

use rcgen::{CertificateParams, DnType, KeyPair};
use serde_json::Value;

use crate::process::{Server, json, upstream};
use crate::tls_server::{Pki, pki};

/// A certificate for localhost and 127.0.0.1 named `name`, from `pki`'s intermediate,
/// written as `chain.pem` (leaf, intermediate) and `key.pem` in `dir`.
fn issue(pki: &Pki, name: &str, dir: &Path) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    let leaf = params.signed_by(&key, pki.intermediate()).unwrap();
    // Written aside and renamed, as certbot does, so the server never reads half a file.
    let tmp = dir.join("chain.pem.new");
    std::fs::write(&tmp, format!("{}{}", leaf.pem(), pki.intermediate().pem())).unwrap();
    std::fs::write(dir.join("key.pem.new"), key.serialize_pem()).unwrap();
    std::fs::rename(dir.join("key.pem.new"), dir.join("key.pem")).unwrap();
    std::fs::rename(tmp, dir.join("chain.pem")).unwrap();
}

/// curl's answer: HTTP version, status, and the body with what differs per request (its
/// request id) taken out.
fn curl(http: &str, url: &str, secret: Option<&str>, ca: &Path) -> (String, u16, Value) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", http, "--cacert"]).arg(ca).args(["-w", "\n%{http_version} %{http_code}", url]);
    if let Some(secret) = secret {
        cmd.args(["-H", &format!("authorization: Bearer {secret}")]);
    }
    let out = cmd.output().expect("curl runs (scripts/deps.sh --test installs it)");
    assert!(out.status.success(), "curl {http} {url}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, tail) = text.rsplit_once('\n').unwrap();
    let (version, status) = tail.split_once(' ').unwrap();
    let mut body: Value = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
    if let Some(map) = body.as_object_mut() {
        map.remove("request_id");
    }
    (version.to_string(), status.parse().unwrap(), body)
}

/// The subject of the certificate a new connection is shown.
fn served_subject(url: &str, ca: &Path) -> String {
    let out =
        Command::new("curl").args(["-sS", "-v", "-o", "/dev/null", "--cacert"]).arg(ca).arg(url).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    log.lines().find_map(|l| l.trim().strip_prefix("*  subject: ").map(str::to_string)).unwrap_or(log)
}

#[test]
fn https_serves_the_same_answers_over_http2_and_http1_and_reloads_its_certificate_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let certs = tempfile::tempdir().unwrap();
    let pki = pki("Gateway");
    issue(&pki, "gateway one", certs.path());
    let ca = certs.path().join("root.pem");
    std::fs::write(&ca, &pki.root_pem).unwrap();

    json(d, &["plan", "create", "--name", "Pro", "--credits", "100000", "--features", "search"]);
    json(d, &["plan", "create", "--name", "Free", "--credits", "0"]);
    json(d, &["tenant", "create", "--name", "acme", "--plan", "pro"]);
    json(d, &["tenant", "create", "--name", "broke", "--plan", "free"]);
    let secret = |tenant: &str| json(d, &["key", "issue", "--tenant", tenant])["secret"].as_str().unwrap().to_string();
    let (acme, broke) = (secret("acme"), secret("broke"));
    let up = upstream();
    json(d, &["route", "create", "--path", "/v1", "--upstream", &up]);
    json(d, &["route", "create", "--path", "/v1/search", "--upstream", &up, "--feature", "search"]);
    json(d, &["route", "create", "--path", "/admin", "--upstream", &up, "--scope", "admin"]);
    let (cert, key) = (certs.path().join("chain.pem"), certs.path().join("key.pem"));
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let server = Server::start_with(d, "info", &["--tls-cert", &cert, "--tls-key", &key]);
    let base = server.gateway.replace("127.0.0.1", "localhost");
    assert!(base.starts_with("https://"), "the gateway says it serves HTTPS: {base}");

    let cases: [(&str, Option<&str>, u16); 7] = [
        ("/v1/ok", Some(&acme), 200),
        ("/v1/ok", None, 401),
        ("/v1/ok", Some("tg_live_not_a_key"), 401),
        ("/v1/search", Some(&broke), 402),
        ("/v1/ok", Some(&broke), 402),
        ("/admin/x", Some(&acme), 403),
        ("/nowhere", Some(&acme), 404),
    ];
    for (path, key, status) in cases {
        let url = format!("{base}{path}");
        let (v2, status2, body2) = curl("--http2", &url, key, &ca);
        let (v1, status1, body1) = curl("--http1.1", &url, key, &ca);
        assert_eq!((v2.as_str(), v1.as_str()), ("2", "1.1"), "{path}: ALPN chose each");
        assert_eq!(status2, status, "{path} over HTTP/2: {body2}");
        assert_eq!((status1, &body1), (status2, &body2), "{path}: the same answer over HTTP/1.1 and HTTP/2");
    }
    assert_eq!(served_subject(&format!("{base}/v1/ok"), &ca), "CN=gateway one");

    // h2load keeps 4 connections with 10 streams each busy for 4 s; halfway the files are
    // replaced and the server told (SIGHUP). No request may fail.
    let load = std::thread::spawn({
        let (url, auth) = (format!("{base}/v1/ok"), format!("authorization: Bearer {acme}"));
        move || {
            Command::new("h2load")
                .args(["-c", "4", "-m", "10", "-D", "4", "-H", &auth, &url])
                .output()
                .expect("h2load runs (scripts/deps.sh --test installs nghttp2-client)")
        }
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    issue(&pki, "gateway two", certs.path());
    server.signal(libc::SIGHUP);
    let out = load.join().unwrap();
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    let requests = report.lines().find(|l| l.starts_with("requests:")).unwrap_or_default().to_string();
    assert!(requests.contains(" 0 failed, 0 errored, 0 timeout"), "h2load saw no failure across the reload:\n{report}");
    assert!(report.contains("Application protocol: h2"), "h2load spoke HTTP/2:\n{report}");
    let codes = report.lines().find(|l| l.starts_with("status codes:")).unwrap_or_default();
    assert!(codes.starts_with("status codes: ") && codes.contains(" 0 3xx, 0 4xx, 0 5xx"), "{report}");
    println!("h2load across a reload: {requests}");
    assert_eq!(served_subject(&format!("{base}/v1/ok"), &ca), "CN=gateway two", "new connections get the new one");

    // A broken replacement is refused and the one in use keeps serving.
    std::fs::write(certs.path().join("chain.pem"), "not a certificate").unwrap();
    server.signal(libc::SIGHUP);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(curl("--http2", &format!("{base}/v1/ok"), Some(&acme), &ca).1, 200);
    assert_eq!(served_subject(&format!("{base}/v1/ok"), &ca), "CN=gateway two");
    let (_, output) = server.stop();
    assert!(output.contains("cannot reload the gateway's certificate"), "the operator is told:\n{output}");
}

#[test]
fn a_bad_certificate_or_a_half_pair_is_refused_at_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = (certs.path().join("chain.pem"), certs.path().join("key.pem"));
    std::fs::write(&cert, "garbage").unwrap();
    std::fs::write(&key, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let serve = |extra: &[&str]| {
        let out = crate::process::binary()
            .arg("--data-dir")
            .arg(d)
            .args(["serve", "--admin-listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0"])
            .args(extra)
            .output()
            .unwrap();
        assert!(!out.status.success(), "refused: {extra:?}");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let err = serve(&["--tls-cert", &cert, "--tls-key", &key]);
    assert!(err.contains("chain.pem") && err.contains("no certificate"), "{err}");
    let err = serve(&["--tls-cert", &cert]);
    assert!(err.contains("--tls-key"), "a certificate needs its key: {err}");

    // Stored settings: a path that is no file is refused, and so is half a pair.
    let out = crate::process::run(d, &["settings", "set", "--gateway-tls-cert", "/nonexistent/chain.pem"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("gateway_tls_cert"));
    let out = crate::process::run(d, &["settings", "set", "--gateway-tls-cert", &cert]);
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("gateway_tls_key"),
        "half a pair: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    json(d, &["settings", "set", "--gateway-tls-cert", &cert, "--gateway-tls-key", &key]);
    let err = serve(&[]);
    assert!(err.contains("chain.pem"), "the stored pair is used, and its fault named: {err}");
}

#[test]
fn the_demo_refuses_a_gateway_serving_https_and_says_why() {
    let (dir, certs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    issue(&pki("Demo"), "demo", certs.path());
    let (cert, key) = (certs.path().join("chain.pem"), certs.path().join("key.pem"));
    let out = crate::process::binary()
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--demo", "--admin-listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--demo sends plain HTTP traffic"), "{err}");
    assert_eq!(json(dir.path(), &["tenant", "list"]).as_array().map(Vec::len), Some(0), "nothing was seeded");
}
