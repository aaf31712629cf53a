//! The traffic log and the request log under floods: counts for every denial, a bounded
//! sample of whole ones, bounded memory when storage stalls, prunes that never hold a
//! console command back, and every request findable by the id its client got.

use std::time::Duration;

use sqlx::Connection;
use tollgate_core::ConsoleError;
use tollgate_core::store::keys::KeyIssue;
use tollgate_core::store::request_show::RequestShow;
use tollgate_core::store::tenants::TenantCreate;
use tollgate_core::store::traffic::TrafficLimits;
use tollgate_core::{Command, Ctx};

use crate::harness::{RING_ENTRIES, World, world, world_with_traffic};

/// Creates `count` more tenants on plan `pro` (whose balance is what the world gave) and
/// returns a key of each.
async fn tenants(w: &World, count: usize) -> Vec<String> {
    let mut secrets = Vec::new();
    for i in 0..count {
        let name = format!("tenant-{i}");
        w.run(TenantCreate { name: name.clone(), plan: "pro".into(), ..Default::default() }).await;
        secrets.push(w.run(KeyIssue { tenant: name, ..Default::default() }).await.secret);
    }
    secrets
}

/// Sends `per_key` requests with each key (and `keyless` without one, with 8 KB paths),
/// 16 at a time; returns the statuses.
async fn flood(w: &World, secrets: &[String], per_key: usize, keyless: usize) -> Vec<u16> {
    use futures_util::StreamExt;
    let long = format!("/v1/{}", "a".repeat(8192));
    let mut calls = Vec::new();
    for _ in 0..per_key {
        for secret in secrets {
            calls.push(w.client.get(format!("{}/v1/x", w.url)).bearer_auth(secret));
        }
    }
    for _ in 0..keyless {
        calls.push(w.client.get(format!("{}{long}", w.url)));
    }
    futures_util::stream::iter(calls)
        .map(|call| async move { call.send().await.unwrap().status().as_u16() })
        .buffer_unordered(16)
        .collect()
        .await
}

async fn scalar(w: &World, sql: &'static str) -> i64 {
    tollgate_core::on!(&mut w.console.store().reader().await.unwrap(), |c| sqlx::query_scalar(sql).fetch_one(c).await)
        .unwrap()
}

/// Writes the traffic log's counts (they are otherwise written every few seconds) until the
/// stored denial counts add up to `total` (at most 10 s).
async fn counted(w: &World, total: i64) {
    for _ in 0..500 {
        let _ = w.traffic.flush().await;
        if scalar(w, "SELECT COALESCE(SUM(requests), 0) FROM denial_minutes").await == total {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the denial counts never reached {total}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_denials_is_counted_whole_and_sampled_a_few_per_minute() {
    let w = world(0, 1).await;
    let secrets = tenants(&w, 4).await;
    let statuses = flood(&w, &secrets, 50, 40).await;
    assert_eq!(statuses.iter().filter(|&&s| s == 402).count(), 200, "every keyed request was refused for credits");
    assert_eq!(statuses.iter().filter(|&&s| s == 401).count(), 40, "every keyless one for its key");
    counted(&w, 240).await;
    // Every kind of denial in every minute keeps min(3, its count) samples, no more.
    let kinds: Vec<(i64, i64)> =
        tollgate_core::on!(&mut w.console.store().reader().await.unwrap(), |c| sqlx::query_as(
            "SELECT m.requests, (SELECT count(*) FROM denials d
             WHERE ifnull(d.tenant, '') = ifnull(m.tenant, '') AND ifnull(d.route, '') = ifnull(m.route, '')
               AND d.code = m.code AND d.status = m.status
               AND strftime('%Y-%m-%dT%H:%M:00+00:00', d.at) = m.minute)
         FROM denial_minutes m",
        )
        .fetch_all(c)
        .await)
        .unwrap();
    for (requests, samples) in &kinds {
        assert_eq!(*samples, (*requests).min(3), "a kind counted {requests} times keeps {samples} samples");
    }
    let samples = scalar(&w, "SELECT count(*) FROM denials").await;
    assert!(samples <= 3 * kinds.len() as i64, "{samples} samples for {} kinds", kinds.len());
    assert!(samples < 240, "not a row per request");
    let keyless = scalar(&w, "SELECT COALESCE(SUM(requests), 0) FROM denial_minutes WHERE tenant IS NULL").await;
    assert_eq!(keyless, 40, "keyless refusals are counted without a tenant");
    let (len, truncated): (i64, bool) =
        tollgate_core::on!(&mut w.console.store().reader().await.unwrap(), |c| sqlx::query_as(
            "SELECT length(path), path_truncated FROM denials WHERE tenant IS NULL LIMIT 1"
        )
        .fetch_one(c)
        .await)
        .unwrap();
    assert_eq!((len, truncated), (512, true), "an 8 KB path is kept cut to 512 bytes and marked");
    let listed = w
        .run(tollgate_core::store::traffic::DenialCounts { tenant: Some("tenant-0".into()), ..Default::default() })
        .await;
    assert_eq!(listed.iter().map(|m| m.requests).sum::<i64>(), 50, "denial.counts lists one tenant's");
    let rows = w.run(tollgate_core::store::tenants::TenantList::default()).await;
    let row = rows.iter().find(|t| t.slug == "tenant-1").expect("listed");
    assert_eq!(row.denials_24h, 50, "the tenant list counts every denial, not the samples");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_storage_stalled_samples_stay_within_their_bound_and_every_drop_is_counted() {
    let limits = TrafficLimits { max_pending_samples: 10, ..TrafficLimits::default() };
    let w = world_with_traffic(0, 1, limits).await;
    let secrets = tenants(&w, 12).await;
    // Another connection holds SQLite's write lock: the traffic writer cannot write.
    let mut blocker = sqlx::SqliteConnection::connect(&format!("sqlite://{}", w.db.display())).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut blocker).await.unwrap();
    let statuses = flood(&w, &secrets, 10, 0).await;
    assert!(statuses.iter().all(|&s| s == 402), "all refused");
    let stalled = w.traffic.stats();
    assert!(stalled.samples_peak_pending <= 10, "never more than the bound waited: {stalled:?}");
    assert!(stalled.samples_taken >= 36, "3 samples chosen per tenant and minute: {stalled:?}");
    assert!(stalled.samples_dropped >= stalled.samples_taken - 10, "past the bound they were dropped: {stalled:?}");
    assert_eq!(
        stalled.samples_stored + stalled.samples_pending + stalled.samples_dropped,
        stalled.samples_taken,
        "every chosen sample is stored, waiting or counted as dropped"
    );
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    counted(&w, 120).await;
    for _ in 0..500 {
        if w.traffic.stats().samples_pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = w.traffic.stats();
    let kinds = scalar(&w, "SELECT SUM(min(requests, 3)) FROM denial_minutes").await;
    assert_eq!(after.samples_taken, kinds as u64, "the first 3 of each kind and minute were chosen");
    assert_eq!(after.samples_pending, 0, "the waiting samples were written");
    let stored = scalar(&w, "SELECT count(*) FROM denials").await;
    assert_eq!(stored as u64, after.samples_stored, "what the log says it stored is in the database");
    assert_eq!(stored as u64 + after.samples_dropped, after.samples_taken, "stored + dropped == chosen");
    let status = w.run(tollgate_core::store::traffic::TrafficStatusShow {}).await;
    assert_eq!(status.traffic.samples_dropped, after.samples_dropped, "traffic.status shows the drops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prune_of_a_large_backlog_lets_a_top_up_in_between_its_batches() {
    let w = world(0, 1).await;
    let old = chrono::Utc::now() - chrono::TimeDelta::days(40);
    let old_minute = "2020-01-01T00:00:00+00:00";
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", w.db.display())).await.unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
         INSERT INTO denials (at, request_id, tenant, method, path, status, code)
         SELECT ?1, 'req_00000000_' || i, 'acme', 'GET', '/v1/x', 402, 'INSUFFICIENT_CREDITS' FROM n",
    )
    .bind(old)
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
         INSERT INTO denial_minutes (minute, tenant, route, status, code, requests)
         SELECT ?1, 'tenant-' || i, '/v1', 402, 'INSUFFICIENT_CREDITS', 7 FROM n",
    )
    .bind(old_minute)
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    w.get("/v1/x").await; // one recent denial, kept
    counted(&w, 5000 * 7 + 1).await;
    let old_rows = "SELECT count(*) FROM denials WHERE request_id LIKE 'req_00000000_%'";
    let store = w.console.store().clone();
    let prune = tokio::spawn(async move { tollgate_core::store::traffic::prune(&store, chrono::Utc::now()).await });
    // Once the prune has started deleting, a top-up runs to completion...
    for _ in 0..100_000 {
        if scalar(&w, old_rows).await < 200_000 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(scalar(&w, old_rows).await < 200_000, "the prune started");
    tollgate_core::store::credits::TopUp {
        tenant: "acme".into(),
        amount: 5,
        idempotency_key: "during-prune".into(),
        note: None,
        paid_minor: None,
    }
    .run(&w.console, &Ctx::now("test"))
    .await
    .expect("the top-up commits while the prune runs");
    // ...before the prune is through: it waited one batch at most, not the whole prune.
    let remaining = scalar(&w, old_rows).await;
    assert!(remaining > 0, "the prune was still running when the top-up committed");
    let removed = prune.await.unwrap().unwrap();
    assert_eq!(removed, 200_000, "every old sample went");
    assert_eq!(scalar(&w, old_rows).await, 0, "none is left");
    assert_eq!(scalar(&w, "SELECT count(*) FROM denials").await, 1, "the recent one stays");
    let old_counts = scalar(&w, "SELECT count(*) FROM denial_minutes WHERE minute = '2020-01-01T00:00:00+00:00'").await;
    assert_eq!(old_counts, 0, "old counts went too");
    assert_eq!(scalar(&w, "SELECT COALESCE(SUM(requests), 0) FROM denial_minutes").await, 1, "the recent count stays");
    assert_eq!(w.balance().await, 5, "the top-up landed");
}

fn request_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"].to_str().unwrap().to_string()
}

async fn show(w: &World, id: &str) -> Result<tollgate_core::store::request_show::RequestShown, ConsoleError> {
    RequestShow { request_id: id.to_string() }.run(&w.console, &Ctx::now("test")).await
}

#[tokio::test]
async fn request_show_finds_a_served_and_a_refused_request_by_the_id_the_client_got() {
    let w = world(1, 1).await;
    let served = w.get("/v1/x").await;
    assert_eq!(served.status(), 200);
    let served_id = request_id(&served);
    let refused = w.get("/v1/x").await;
    assert_eq!(refused.status(), 402);
    let body: serde_json::Value = refused.json().await.unwrap();
    let refused_id = body["request_id"].as_str().expect("the body names the request").to_string();

    let shown = show(&w, &served_id).await.expect("the served request is in the log");
    assert_eq!(shown.outcome, "served");
    assert_eq!((shown.status, shown.cost, shown.tenant.as_deref()), (200, 1, Some("acme")), "{shown:?}");
    assert_eq!(shown.route.as_deref(), Some("/v1"));
    assert!(shown.key_prefix.as_deref().is_some_and(|k| k.starts_with("tg_live_")), "{shown:?}");
    assert!((chrono::Utc::now() - shown.at).num_seconds() < 60, "when: {}", shown.at);

    let shown = show(&w, &refused_id).await.expect("the refused request is in the log");
    assert_eq!(shown.outcome, "refused");
    assert_eq!((shown.status, shown.code.as_deref(), shown.cost), (402, Some("INSUFFICIENT_CREDITS"), 0));
    assert!(shown.meaning.as_deref().is_some_and(|m| m.contains("balance")), "{shown:?}");
    // The sample is written with the next flush; then the refusal's facts come with it.
    let mut sample = None;
    for _ in 0..200 {
        sample = show(&w, &refused_id).await.unwrap().denial;
        if sample.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sample = sample.expect("the first refusal of its kind this minute is a stored sample");
    assert_eq!(sample.facts.as_ref().and_then(|f| f["balance"].as_i64()), Some(0), "with its facts: {sample:?}");

    // Requests go on until one lands in the served request's slot of the ring.
    let counter = |id: &str| id.rsplit('_').next().unwrap().parse::<u64>().unwrap();
    assert_eq!(w.requests.capacity(), RING_ENTRIES);
    let slot = counter(&served_id) % RING_ENTRIES;
    let mut overwritten = false;
    for _ in 0..20_000 {
        let r = w.get("/v1/x").await;
        let later = counter(&request_id(&r));
        if later > counter(&served_id) && later % RING_ENTRIES == slot {
            overwritten = true;
            break;
        }
    }
    assert!(overwritten, "a later request took the slot");
    let mut answer = show(&w, &served_id).await;
    for _ in 0..200 {
        if answer.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        answer = show(&w, &served_id).await;
    }
    let error = answer.expect_err("no longer in the log");
    assert_eq!(error.code(), "NOT_FOUND");
    assert!(error.to_string().contains("no longer"), "{error}");
    let error = show(&w, "req_nothing").await.expect_err("not an id");
    assert_eq!(error.code(), "INVALID_INPUT");
}

#[tokio::test]
async fn in_strict_mode_a_served_request_is_in_the_ring_file_before_its_answer_leaves() {
    use tollgate_core::store::request_log::{Lookup, RequestId, RequestLog};
    use tollgate_core::store::settings::{Durability, SettingsSet};
    let w = world(10, 1).await;
    w.run(SettingsSet { durability: Some(Durability::Strict), ..Default::default() }).await;
    let served = w.get("/v1/x").await;
    assert_eq!(served.status(), 200);
    let id = RequestId::parse(&request_id(&served)).unwrap();
    // A reader of the file alone (as after a crash): no buffer in between.
    let reader = RequestLog::reader(&w.db.with_file_name("requests.log")).unwrap().expect("the ring exists");
    match reader.find(id).unwrap() {
        Lookup::Found(record) => assert_eq!((record.status, record.cost), (200, 1)),
        Lookup::Gone => panic!("the strict answer left before its record was written"),
    }
}

/// A `batched` request's usage is summed per tenant in the ledger; its refund finds the
/// charge in the request log, and never gives back more than it cost.
#[tokio::test]
async fn a_batched_request_is_refunded_by_the_id_its_client_got() {
    use tollgate_core::store::credits::Refund;
    let w = world(10, 3).await;
    let served = w.get("/v1/x").await;
    assert_eq!(served.status(), 200);
    let id = request_id(&served);
    let refund = |amount, key: &str| Refund {
        tenant: "acme".into(),
        amount,
        idempotency_key: key.into(),
        request_id: id.clone(),
        reason: None,
    };
    let too_much = refund(4, "r0").run(&w.console, &Ctx::now("test")).await.expect_err("more than it cost");
    assert_eq!(too_much.code(), "INVALID_INPUT", "{too_much}");
    let done = refund(3, "r1").run(&w.console, &Ctx::now("test")).await.expect("the charge is in the request log");
    assert_eq!(done.entry.amount, 3);
    let again = refund(1, "r2").run(&w.console, &Ctx::now("test")).await.expect_err("nothing left to refund");
    assert_eq!(again.code(), "INVALID_INPUT", "{again}");
    let refused = w.client.get(format!("{}/v1/x", w.url)).send().await.unwrap();
    assert_eq!(refused.status(), 401, "no key");
    let refused_id = request_id(&refused);
    let error = Refund { request_id: refused_id, ..refund(1, "r3") }
        .run(&w.console, &Ctx::now("test"))
        .await
        .expect_err("a refusal charged nothing");
    assert_eq!(error.code(), "NOT_FOUND", "{error}");
}

/// Writes the traffic log's counts (a key's calls are otherwise written every few seconds)
/// until acme's key shows `calls` calls (at most 10 s).
async fn key_calls(w: &World, calls: i64) -> tollgate_core::store::keys::ApiKey {
    for _ in 0..500 {
        let _ = w.traffic.flush().await;
        let keys = w.run(tollgate_core::store::keys::KeyList { tenant: "acme".into() }).await;
        if keys[0].calls == calls {
            return keys[0].clone();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the key never showed {calls} calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_shows_when_it_was_last_used_and_how_often() {
    let w = world(3, 1).await;
    let before = w.run(tollgate_core::store::keys::KeyList { tenant: "acme".into() }).await;
    assert_eq!((before[0].calls, before[0].last_used_at), (0, None), "a new key was never used");
    let started = chrono::Utc::now();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(w.get("/v1/x").await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 402, 402], "three served, then out of credits");
    let key = key_calls(&w, 5).await;
    let last = key.last_used_at.expect("the key's last use is recorded");
    assert!(last >= started - chrono::TimeDelta::seconds(1) && last <= chrono::Utc::now(), "last use is now: {last}");
    assert_eq!(last.timestamp_subsec_nanos(), 0, "to the second");
    // More calls add to the count; the last use never goes back.
    w.get("/v1/x").await;
    let key = key_calls(&w, 6).await;
    assert!(key.last_used_at.unwrap() >= last, "the last use moves forward");
}
