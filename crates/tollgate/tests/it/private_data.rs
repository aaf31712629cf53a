//! The data directory holds tenants, balances and the admin token: after a real
//! `tollgate serve` start it and every file in it belong to its owner alone, and the token
//! never lands in a log.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::process::{Server, fails, json, run};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Every entry of `dir` with its mode, for messages.
fn modes(dir: &Path) -> Vec<(String, u32)> {
    let mut all: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), mode(&e.path())))
        .collect();
    all.sort();
    all
}

#[test]
fn a_new_data_dir_and_every_file_in_it_are_private() {
    let parent = tempfile::tempdir().unwrap();
    let d = parent.path().join("data");
    let server = Server::start(&d, "warn");
    // Writes through the server, so the WAL and its index exist too.
    json(&d, &["plan", "create", "--name", "Pro", "--credits", "10"]);
    json(&d, &["tenant", "create", "--name", "acme", "--plan", "pro"]);
    let files = modes(&d);
    for name in ["tollgate.db", "tollgate.db-wal", "tollgate.db-shm", "serve.json", "admin-token", "tollgate.lock"] {
        assert!(files.iter().any(|(n, _)| n == name), "{name} is in the data directory: {files:?}");
    }
    assert_eq!(mode(&d), 0o700, "the directory Tollgate created is its owner's alone");
    let open: Vec<_> = files.iter().filter(|(_, m)| *m != 0o600).collect();
    assert!(open.is_empty(), "every file is 0600 while serving: {open:?}");
    let (status, output) = server.stop();
    assert!(status.success(), "clean stop: {output}");
    let open: Vec<_> = modes(&d).into_iter().filter(|(_, m)| *m != 0o600).collect();
    assert!(open.is_empty(), "and after the stop: {open:?}");
}

#[test]
fn an_existing_open_data_dir_is_tightened_and_named() {
    let parent = tempfile::tempdir().unwrap();
    let d = parent.path().join("old");
    json(&d, &["plan", "create", "--name", "Pro"]);
    // As an earlier version left it: a world-readable directory and files.
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    for (name, _) in modes(&d) {
        std::fs::set_permissions(d.join(name), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let server = Server::start(&d, "warn");
    json(&d, &["tenant", "create", "--name", "acme", "--plan", "pro"]);
    let open: Vec<_> = modes(&d).into_iter().filter(|(_, m)| *m != 0o600).collect();
    assert!(open.is_empty(), "Tollgate's files are tightened to 0600 at start: {open:?}");
    let (_, output) = server.stop();
    assert!(output.contains("restricted a data file to its owner"), "and it says which: {output}");
    assert!(
        output.contains("other users can list the data directory"),
        "a directory it did not create keeps its mode, with a warning: {output}"
    );
    assert_eq!(mode(&d), 0o755, "(it may be shared, so it is not changed)");
}

#[test]
fn the_token_stays_out_of_piped_output_and_dashboard_url_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ui = tempfile::tempdir().unwrap();
    std::fs::write(ui.path().join("index.html"), "<!doctype html><title>Tollgate</title>").unwrap();
    let refused = fails(d, &["dashboard-url"]);
    assert!(refused.contains("no tollgate serve or desktop app is running"), "nothing to open yet: {refused}");

    let server = Server::start_with(d, "info", &["--ui-dir", ui.path().to_str().unwrap()]);
    let token = std::fs::read_to_string(d.join("admin-token")).unwrap();
    let token = token.trim();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !server.output.lock().unwrap().contains("Open the dashboard") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = run(d, &["dashboard-url"]);
    assert!(out.status.success(), "dashboard-url: {}", String::from_utf8_lossy(&out.stderr));
    let url = String::from_utf8(out.stdout).unwrap();
    assert_eq!(url.trim(), format!("{}/#token={token}", server.url), "the URL to open, token in the fragment");
    assert_eq!(json(d, &["dashboard-url"])["url"], url.trim(), "also as JSON");

    let (status, printed) = server.stop();
    assert!(status.success(), "clean stop: {printed}");
    assert!(
        printed.contains("Open the dashboard: run `tollgate --data-dir") && printed.contains("dashboard-url`"),
        "a piped stdout says how to get the URL:\n{printed}"
    );
    assert!(!printed.contains(token), "and never carries the token:\n{printed}");
}
