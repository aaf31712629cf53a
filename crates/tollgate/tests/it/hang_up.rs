//! Console commands whose HTTP client hangs up before the answer: the command still runs
//! to the end, and the gateway's memory agrees with the database afterwards.
//!
//! The window is made real without timing luck: a large write-ahead log (written by an
//! outside connection that never checkpoints) makes the command's own COMMIT run a long
//! checkpoint, so the commit is visible to other connections while the command's future
//! still waits on it. The client hangs up exactly then.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::live_node::{Fixture, fixture};

/// Sends `command` to the admin API, waits until its audit entry is committed, and
/// hangs up at once, before the answer (the commit is still checkpointing then).
async fn send_and_hang_up(f: &mut Fixture, command: &str, input: Value) {
    let audit_before = f.scalar("SELECT COALESCE(MAX(id), 0) FROM audit_log").await;
    let host = f.node.admin_url().trim_start_matches("http://").to_string();
    let body = input.to_string();
    let request = format!(
        "POST /api/{command} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        f.node.token(),
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let newest = f.scalar("SELECT COALESCE(MAX(id), 0) FROM audit_log").await;
        if newest > audit_before {
            break;
        }
        assert!(Instant::now() < deadline, "{command} did not commit within 30 s");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    drop(stream);
}

/// Sends requests with the key until `done` holds for the gateway's answer (status,
/// credits left) and the balance memory must show; fails after 30 s.
async fn until(f: &mut Fixture, what: &str, done: impl Fn(u16, Option<i64>, i64) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, left) = f.spend().await;
        let expected = f.expected_balance().await;
        if done(status, left, expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the gateway still answers {status} with {left:?} credits left; the database says {expected}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A fixture whose next commit will be slow, after one served request (9,999 left).
async fn ready() -> Fixture {
    let mut f = fixture().await;
    assert_eq!(f.spend().await, (200, Some(9_999)), "the key works and spends");
    f.settled().await;
    f.slow_next_commit(128).await;
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topup_whose_client_hung_up_reaches_memory() {
    let mut f = ready().await;
    let input = json!({"tenant": "acme", "amount": 5000, "idempotency_key": "T1"});
    send_and_hang_up(&mut f, "credits.topup", input.clone()).await;
    assert_eq!(f.scalar("SELECT balance FROM tenants WHERE slug = 'acme'").await, 14_999, "the database has it");
    until(&mut f, "the top-up", |status, left, expected| status == 200 && left == Some(expected)).await;
    let retry = f.call("credits.topup", input).await;
    assert_eq!(retry["replayed"], true, "a retry with the same key replays: {retry}");
    until(&mut f, "after the retry", |status, left, expected| status == 200 && left == Some(expected)).await;
    f.node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_negative_adjust_whose_client_hung_up_is_not_spent_again() {
    let mut f = ready().await;
    let input = json!({"tenant": "acme", "amount": -9_999, "idempotency_key": "A1", "reason": "chargeback"});
    send_and_hang_up(&mut f, "credits.adjust", input).await;
    assert_eq!(f.scalar("SELECT balance FROM tenants WHERE slug = 'acme'").await, 0, "the database took them");
    until(&mut f, "the removed credits", |status, _, expected| status == 402 && expected == 0).await;
    assert_eq!(f.served, 1, "no request was served on credits the database no longer has");
    f.node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_by_a_client_that_hung_up_stops_working() {
    let mut f = ready().await;
    let prefix = f.prefix.clone();
    send_and_hang_up(&mut f, "key.revoke", json!({"key": prefix})).await;
    let revoked = f.scalar("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NOT NULL").await;
    assert_eq!(revoked, 1, "the database has the revocation");
    until(&mut f, "the revoked key", |status, _, _| status == 401).await;
    f.node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_blocked_by_a_client_that_hung_up_is_refused() {
    let mut f = ready().await;
    send_and_hang_up(&mut f, "tenant.block", json!({"tenant": "acme", "reason": "abuse"})).await;
    let blocked = f.scalar("SELECT COUNT(*) FROM tenants WHERE standing = 'blocked'").await;
    assert_eq!(blocked, 1, "the database has the block");
    until(&mut f, "the blocked tenant", |status, _, _| status == 403).await;
    f.node.stop().await.unwrap();
}
