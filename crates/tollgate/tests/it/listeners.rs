//! Both listeners of a running node against clients that connect and stall: they are cut
//! off within the header-read timeout, and under a low open-file limit a crowd of them
//! neither starves the gateway and the admin API nor makes the accept loop spin.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tollgate::data_dir::DataDir;
use tollgate::node::{ListenerOverrides, Node, NodeOptions};

use crate::process::Server;

/// Reads until the server closes the connection; `Some(elapsed)` if it did within `bound`.
fn closed_within(stream: &mut TcpStream, bound: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    while started.elapsed() < bound {
        stream.set_read_timeout(Some(bound.saturating_sub(started.elapsed()).max(Duration::from_millis(1)))).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return Some(started.elapsed()),
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_cuts_off_a_partial_header_within_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let local = Some("127.0.0.1:0".parse().unwrap());
    let timeout = Duration::from_millis(400);
    let options = NodeOptions {
        admin_listen: local,
        gateway_listen: local,
        limits: ListenerOverrides { header_read_timeout: Some(timeout), max_connections: None },
        ..NodeOptions::default()
    };
    let node = Node::start(DataDir::resolve(Some(dir.path().into())).unwrap(), options).await.unwrap();
    let (admin, gateway) =
        (node.admin_url().trim_start_matches("http://"), node.gateway_url().trim_start_matches("http://"));
    let (admin, gateway) = (admin.to_string(), gateway.to_string());
    tokio::task::spawn_blocking(move || {
        for addr in [&admin, &gateway] {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.write_all(b"POST /api/plan.list HTTP/1.1\r\nHost: 127.0.0.1\r\n").unwrap();
            let closed = closed_within(&mut stream, Duration::from_secs(5));
            let closed = closed.unwrap_or_else(|| panic!("{addr}: a partial header is cut off"));
            assert!(closed >= timeout - Duration::from_millis(50), "{addr}: not before the timeout: {closed:?}");
        }
    })
    .await
    .unwrap();
    node.stop().await.unwrap();
}

/// CPU time (user + system) the process `pid` has used.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf reads a constant.
    let per_second = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap_or(100);
    Duration::from_millis(ticks * 1000 / per_second)
}

#[test]
fn stalled_connections_under_a_low_file_limit_neither_starve_the_listeners_nor_spin() {
    // 300 stalled connections against a limit of 256 descriptors: more than the process
    // could hold, as 1,124 against 1,024 in the report.
    const STALLED: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_file_limit(dir.path(), 256, &["--header-read-timeout-ms", "500"]);
    let token = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    let gateway = server.gateway.trim_start_matches("http://").to_string();
    let mut stalled: Vec<TcpStream> = (0..STALLED)
        .map(|_| {
            let mut s = TcpStream::connect(&gateway).unwrap();
            s.write_all(b"GET /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\n").unwrap();
            s
        })
        .collect();

    let (before, started) = (cpu_time(server.pid()), Instant::now());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(3)).build().unwrap();
        let admin = client
            .post(format!("{}/api/plan.list", server.url))
            .bearer_auth(token.trim())
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("the admin API answers while the gateway is crowded");
        assert_eq!(admin.status(), 200, "and serves");
        tokio::time::sleep(Duration::from_secs(2).saturating_sub(started.elapsed())).await;
    });
    let (used, window) = (cpu_time(server.pid()) - before, started.elapsed());
    assert!(used < Duration::from_millis(500), "the accept loop does not spin: {used:?} of CPU in {window:?}");

    rt.block_on(async {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        let fresh = client.get(format!("{}/v1/x", server.gateway)).send().await.expect("a fresh request is answered");
        assert_eq!(fresh.status(), 404, "with the gateway's answer (no routes here)");
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    for (n, s) in stalled.iter_mut().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(closed_within(s, left).is_some(), "stalled connection {n} is closed in time");
    }
    let (status, output) = server.stop();
    assert!(status.success(), "and the server stops cleanly: {output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_report_where_the_server_listens_beside_the_stored_addresses() {
    use tollgate_core::store::settings::{SettingsGet, SettingsSet};
    use tollgate_core::{Command, Ctx};
    let dir = tempfile::tempdir().unwrap();
    let local = Some("127.0.0.1:0".parse().unwrap());
    let options = NodeOptions { admin_listen: local, gateway_listen: local, ..NodeOptions::default() };
    let node = Node::start(DataDir::resolve(Some(dir.path().into())).unwrap(), options).await.unwrap();
    let report = SettingsGet {}.run(node.console(), &Ctx::now("test")).await.unwrap();
    let listening = report.listening.expect("a running server says where it listens");
    assert_eq!(format!("http://{}", listening.admin_listen), node.admin_url(), "the admin API's real address");
    assert_eq!(format!("http://{}", listening.gateway_listen), node.gateway_url(), "the gateway's");
    assert_eq!(listening.dashboard_url, node.admin_url(), "and where the dashboard opens");
    assert_eq!(
        report.settings.admin_listen, "127.0.0.1:8401",
        "the stored address is still reported (for the next start)"
    );
    assert_ne!(listening.admin_listen, report.settings.admin_listen, "the command line chose another");
    let set = SettingsSet { gateway_listen: Some("127.0.0.1:9999".into()), ..Default::default() };
    let after = set.run(node.console(), &Ctx::now("test")).await.unwrap();
    assert_eq!(
        after.listening.map(|l| l.gateway_listen),
        Some(listening.gateway_listen),
        "a new stored address waits for a restart"
    );
    node.stop().await.unwrap();
}
