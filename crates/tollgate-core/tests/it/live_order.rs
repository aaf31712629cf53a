//! Two console commands on one tenant, close together: whatever the timing, the
//! gateway's memory ends with the state the database ends with.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_core::live::Live;
use tollgate_core::store::plans::PlanCreate;
use tollgate_core::store::tenants::{Standing, TenantBlock, TenantCreate, TenantResume};
use tollgate_core::{Command, Console, Ctx};

/// Usage rows that make reading the tenant for memory take a while (its period's
/// requests are counted), so a command can be caught between that read and the update.
const USAGE_ROWS: i64 = 500_000;

#[test]
fn a_slower_command_never_leaves_its_older_state_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let fast = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (console, live, tenant_id) = fast.block_on(async {
        let console = Console::open(&dir.path().join("tollgate.db")).await.unwrap();
        let ctx = Ctx::now("test");
        PlanCreate { name: "Pro".into(), ..Default::default() }.run(&console, &ctx).await.unwrap();
        let acme = TenantCreate { name: "acme".into(), plan: "pro".into(), ..Default::default() };
        let id = acme.run(&console, &ctx).await.unwrap().tenant.id;
        let mut tx = console.store().begin().await.unwrap();
        tollgate_core::on!(&mut *tx, |c| sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
             INSERT INTO ledger (tenant_id, kind, amount, balance_after, actor, created_at)
             SELECT $2, 'debit', -1, 0, 'seed', $3 FROM n",
        )
        .bind(USAGE_ROWS)
        .bind(id)
        .bind(ctx.now)
        .execute(c)
        .await
        .map(drop))
        .unwrap();
        tx.commit().await.unwrap();
        let live = Arc::new(Live::load(console.store()).await.unwrap());
        (console.clone().with_live(live.clone()), live, id)
    });

    // A blocks the tenant on a runtime of its own, which stalls for 3 s shortly after A
    // has committed (once A's connection is back in the pool): whatever A still has to do
    // then happens after B.
    let slow = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let stall = slow.handle().clone();
    let a = {
        let console = console.clone();
        let block = TenantBlock { tenant: "acme".into(), reason: None };
        std::thread::spawn(move || slow.block_on(async move { block.run(&console, &Ctx::now("a")).await }))
    };
    fast.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let committed: i64 =
                tollgate_core::on!(&mut console.store().reader().await.unwrap(), |c| sqlx::query_scalar(
                    "SELECT COUNT(*) FROM audit_log WHERE action = 'tenant.block'"
                )
                .fetch_one(c)
                .await)
                .unwrap();
            if committed == 1 {
                break;
            }
            assert!(Instant::now() < deadline, "A did not commit within 30 s");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        stall.spawn(async { std::thread::sleep(Duration::from_secs(3)) });
        let resume = TenantResume { tenant: "acme".into(), reason: None };
        resume.run(&console, &Ctx::now("b")).await.unwrap();
    });
    a.join().unwrap().unwrap();

    let stored: String = fast
        .block_on(async {
            let mut conn = console.store().reader().await.unwrap();
            tollgate_core::on!(&mut conn, |c| sqlx::query_scalar("SELECT standing FROM tenants WHERE id = $1")
                .bind(tenant_id)
                .fetch_one(c)
                .await)
        })
        .unwrap();
    assert_eq!(stored, "active", "B, the later command, is what the database holds");
    let held = live.tenant(tenant_id).unwrap().standing;
    assert_eq!(held, Standing::Active, "and what memory holds, though A's update came last");
}
