//! `traffic.history` against rows the real traffic log wrote to a real SQLite file, and
//! against counts it still holds in memory.

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use tollgate_core::live::events::GatewayEvent;
use tollgate_core::store::traffic::TrafficLog;
use tollgate_core::store::traffic_history::{
    CodeCount, HistoryWindow, TenantDenials, TrafficHistory, TrafficHistoryShow,
};
use tollgate_core::{Command, ConsoleError, Ctx};

use crate::common::{World, world};

fn event(at: DateTime<Utc>, tenant: Option<&str>, status: u16, code: Option<&str>, cost: i64) -> GatewayEvent {
    GatewayEvent {
        at,
        request_id: format!("req-{}", at.timestamp_nanos_opt().unwrap_or_default()),
        tenant: tenant.map(Into::into),
        key_prefix: None,
        route: Some("/v1".into()),
        method: "GET".into(),
        path: "/v1/x".into(),
        status,
        code: code.map(|c| c.to_owned().into()),
        cost,
        balance: None,
        latency_us: 10,
        facts: None,
        node: None,
    }
}

fn denial(status: i64, code: &str, requests: i64) -> CodeCount {
    CodeCount { status, code: code.into(), requests }
}

async fn history(w: &World, window: HistoryWindow, tenant: Option<&str>) -> Result<TrafficHistory, ConsoleError> {
    TrafficHistoryShow { window, tenant: tenant.map(str::to_string) }.run(&w.console, &Ctx::now("test")).await
}

async fn tenants(w: &World) {
    w.plan("pro", 100).await;
    w.tenant("acme", "pro").await;
    w.tenant("bolt", "pro").await;
}

#[tokio::test]
async fn counts_are_bucketed_per_window_with_totals_per_code_and_the_top_tenants() {
    let w = world().await;
    tenants(&w).await;
    let (log, writer) = TrafficLog::spawn(w.console.store().clone());
    let now = Utc::now();
    let ago = |minutes: i64| now - TimeDelta::minutes(minutes);
    for _ in 0..3 {
        log.record(&event(ago(2), Some("acme"), 200, None, 2));
    }
    for _ in 0..2 {
        log.record(&event(ago(2), Some("acme"), 402, Some("INSUFFICIENT_CREDITS"), 0));
    }
    log.record(&event(ago(30), None, 401, Some("MISSING_API_KEY"), 0));
    for _ in 0..4 {
        log.record(&event(ago(3 * 60), Some("bolt"), 429, Some("RATE_LIMITED"), 0));
    }
    log.record(&event(ago(3 * 24 * 60), Some("bolt"), 200, None, 5));
    log.record(&event(ago(40 * 24 * 60), Some("acme"), 402, Some("INSUFFICIENT_CREDITS"), 0));
    log.stop();
    writer.await.unwrap();

    let h = history(&w, HistoryWindow::FiveMinutes, None).await.unwrap();
    assert_eq!((h.bucket_seconds, h.buckets.len()), (60, 5));
    assert_eq!((h.served, h.credits), (3, 6), "the three served calls of two minutes ago");
    assert_eq!(h.denials, vec![denial(402, "INSUFFICIENT_CREDITS", 2)]);
    let minute = ago(2).timestamp().div_euclid(60) * 60;
    let bucket = h.buckets.iter().find(|b| b.start.timestamp() == minute).expect("the minute of the calls");
    assert_eq!((bucket.served, bucket.denials.clone()), (3, vec![denial(402, "INSUFFICIENT_CREDITS", 2)]));
    assert_eq!(h.buckets.iter().map(|b| b.served).sum::<i64>(), 3, "only that bucket has them");
    assert_eq!(h.top_tenants, vec![TenantDenials { tenant: "acme".into(), requests: 2 }]);
    // Without a gateway in the process the answer is as of the command's time, to the second.
    assert!(h.as_of >= now.trunc_subsecs(0) && h.buckets.last().unwrap().start <= h.as_of);

    let h = history(&w, HistoryWindow::Hour, None).await.unwrap();
    assert_eq!(h.buckets.len(), 60);
    assert_eq!(h.denials, vec![denial(401, "MISSING_API_KEY", 1), denial(402, "INSUFFICIENT_CREDITS", 2)]);
    assert_eq!(
        h.top_tenants,
        vec![TenantDenials { tenant: "acme".into(), requests: 2 }],
        "keyless refusals name no tenant"
    );

    let h = history(&w, HistoryWindow::Day, None).await.unwrap();
    assert_eq!((h.bucket_seconds, h.buckets.len()), (900, 96));
    assert!(h.buckets.iter().all(|b| b.start.timestamp() % 900 == 0), "buckets start on the quarter hour");
    assert_eq!(
        h.denials,
        vec![denial(401, "MISSING_API_KEY", 1), denial(402, "INSUFFICIENT_CREDITS", 2), denial(429, "RATE_LIMITED", 4)]
    );
    assert_eq!(
        h.top_tenants,
        vec![
            TenantDenials { tenant: "bolt".into(), requests: 4 },
            TenantDenials { tenant: "acme".into(), requests: 2 }
        ]
    );
    assert_eq!(h.served, 3);

    let h = history(&w, HistoryWindow::Week, None).await.unwrap();
    assert_eq!((h.bucket_seconds, h.buckets.len(), h.served, h.credits), (3600, 168, 4, 11));

    let h = history(&w, HistoryWindow::Month, None).await.unwrap();
    assert_eq!((h.bucket_seconds, h.buckets.len(), h.served), (6 * 3600, 120, 4));
    let refused: i64 = h.denials.iter().map(|d| d.requests).sum();
    assert_eq!(refused, 7, "the refusal of 40 days ago is outside the window");
    assert_eq!(h.buckets.iter().flat_map(|b| &b.denials).map(|d| d.requests).sum::<i64>(), refused, "buckets add up");

    let h = history(&w, HistoryWindow::Month, Some("acme")).await.unwrap();
    assert_eq!((h.served, h.credits), (3, 6));
    assert_eq!(h.denials, vec![denial(402, "INSUFFICIENT_CREDITS", 2)]);
    assert!(h.top_tenants.is_empty());

    let err = history(&w, HistoryWindow::Hour, Some("nobody")).await.unwrap_err();
    assert_eq!(err.code(), "NOT_FOUND", "{err}");
}

#[tokio::test]
async fn counts_not_yet_written_are_included_once_and_stay_once_after_the_write() {
    let w = world().await;
    tenants(&w).await;
    let (log, writer) = TrafficLog::spawn(w.console.store().clone());
    let console = w.console.clone().with_traffic(log.clone());
    let run = || async {
        TrafficHistoryShow { window: HistoryWindow::Hour, tenant: None }.run(&console, &Ctx::now("t")).await
    };
    let now = Utc::now();
    for _ in 0..5 {
        log.record(&event(now, Some("acme"), 200, None, 1));
    }
    log.record(&event(now, Some("bolt"), 402, Some("INSUFFICIENT_CREDITS"), 0));
    let before = run().await.unwrap();
    assert_eq!(before.served, 5, "recorded, maybe not written yet: counted");
    assert_eq!(before.denials, vec![denial(402, "INSUFFICIENT_CREDITS", 1)]);
    assert_eq!(before.top_tenants, vec![TenantDenials { tenant: "bolt".into(), requests: 1 }]);
    assert!(before.as_of >= now);

    // Once written, the same counts, not twice.
    let stored = async || -> i64 {
        tollgate_core::on!(&mut w.console.store().reader().await.unwrap(), |c| sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(requests), 0) AS BIGINT) FROM usage_minutes"
        )
        .fetch_one(c)
        .await)
        .unwrap()
    };
    log.flush().await.expect("written now, not at the next count write (every few seconds)");
    assert_eq!(stored().await, 5, "the writer stored them");
    log.record(&event(Utc::now(), Some("bolt"), 402, Some("INSUFFICIENT_CREDITS"), 0));
    let after = run().await.unwrap();
    assert_eq!(after.served, 5);
    assert_eq!(after.denials, vec![denial(402, "INSUFFICIENT_CREDITS", 2)], "one stored, one in memory");
    assert_eq!(after.top_tenants, vec![TenantDenials { tenant: "bolt".into(), requests: 2 }]);
    log.stop();
    writer.await.unwrap();
}
