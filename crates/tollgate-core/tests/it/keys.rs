use chrono::TimeDelta;
use tollgate_core::store::audit::AuditList;
use tollgate_core::store::keys::{KeyIssue, KeyList, KeyRevoke, KeyRotate, hash_secret};

use crate::common::{assert_code, assert_invalid, at, t0, world};

#[tokio::test]
async fn issue_shows_the_secret_once_and_stores_only_its_hash() {
    let w = world().await;
    w.plan("pro", 0).await;
    w.tenant("acme", "pro").await;
    let issued = w
        .run(KeyIssue {
            tenant: "acme".into(),
            name: Some("ci".into()),
            scopes: vec!["read".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(issued.secret.starts_with("tg_live_"), "keys carry a visible prefix");
    assert_eq!(issued.secret.len(), 48, "8 prefix characters and 40 random ones");
    assert!(issued.secret.starts_with(&issued.key.prefix), "the stored prefix is the start of the key");
    let stored: String = tollgate_core::on!(&mut w.console.store().reader().await.unwrap(), |c| sqlx::query_scalar(
        "SELECT secret_hash FROM api_keys"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    assert_eq!(stored, hash_secret(&issued.secret), "only the SHA-256 is stored");

    let listed = w.run(KeyList { tenant: "acme".into() }).await.unwrap();
    let json = serde_json::to_string(&*listed).unwrap();
    assert!(!json.contains(&issued.secret), "listing keys never shows a secret");
    assert!(!json.contains(&stored), "nor its hash");

    // The secret appears nowhere in the database or the audit log: search the bytes.
    let audit = serde_json::to_string(&*w.run(AuditList::default()).await.unwrap()).unwrap();
    assert!(!audit.contains(&issued.secret), "the audit log never holds a secret");
    w.console.store().close().await;
    for file in ["tollgate.db", "tollgate.db-wal", "tollgate.db-shm"] {
        let bytes = std::fs::read(w.dir.path().join(file)).unwrap_or_default();
        let found = bytes.windows(issued.secret.len()).any(|win| win == issued.secret.as_bytes());
        assert!(!found, "the secret must not appear in {file}");
    }
}

#[tokio::test]
async fn issue_rejects_bad_input() {
    let w = world().await;
    w.plan("pro", 0).await;
    w.tenant("acme", "pro").await;
    let before = w.dump().await;
    assert_code(w.run(KeyIssue { tenant: "ghost".into(), ..Default::default() }).await, "NOT_FOUND");
    assert_invalid(
        w.run(KeyIssue { tenant: "acme".into(), scopes: vec!["BAD SCOPE".into()], ..Default::default() }).await,
        "scopes",
    );
    assert_invalid(
        w.run(KeyIssue { tenant: "acme".into(), expires_at: Some(t0() - TimeDelta::days(1)), ..Default::default() })
            .await,
        "expires_at",
    );
    assert_invalid(
        w.run(KeyIssue { tenant: "acme".into(), name: Some(" ".into()), ..Default::default() }).await,
        "name",
    );
    assert_eq!(w.dump().await, before, "failed issues change nothing");
}

#[tokio::test]
async fn revoke_by_prefix_or_whole_key() {
    let w = world().await;
    w.plan("pro", 0).await;
    w.tenant("acme", "pro").await;
    let a = w.run(KeyIssue { tenant: "acme".into(), ..Default::default() }).await.unwrap();
    let b = w.run(KeyIssue { tenant: "acme".into(), ..Default::default() }).await.unwrap();
    let revoked = w.run(KeyRevoke { key: a.key.prefix.clone(), reason: Some("leaked".into()) }).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(t0()), "revoked now");
    let revoked = w.run(KeyRevoke { key: b.secret.clone(), reason: None }).await.unwrap();
    assert_eq!(revoked.id, b.key.id, "the whole key finds its record by hash");
    assert_code(w.run(KeyRevoke { key: a.key.prefix.clone(), reason: None }).await, "KEY_REVOKED");
    let missing = w.run(KeyRevoke { key: format!("{}nope", b.secret), reason: None }).await;
    let message = missing.as_ref().unwrap_err().to_string();
    assert!(!message.contains(&b.secret), "an error never echoes a whole key: {message}");
    assert_code(missing, "NOT_FOUND");
}

#[tokio::test]
async fn rotate_overlaps_then_the_old_key_expires() {
    let w = world().await;
    w.plan("pro", 0).await;
    w.tenant("acme", "pro").await;
    let old = w
        .run(KeyIssue {
            tenant: "acme".into(),
            name: Some("prod".into()),
            scopes: vec!["read".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let r = w.run(KeyRotate { key: old.key.prefix.clone(), overlap_minutes: Some(90) }).await.unwrap();
    assert_ne!(r.issued.secret, old.secret, "a new secret");
    assert_eq!(
        (r.issued.key.name.as_str(), r.issued.key.scopes.clone()),
        ("prod", vec!["read".to_string()]),
        "same name and scopes"
    );
    assert_eq!(r.replaced.expires_at, Some(t0() + TimeDelta::minutes(90)), "the old key expires after the overlap");
    assert_eq!(r.replaced.revoked_at, None, "and is not revoked during it");

    let later = at(1);
    assert_code(
        w.run_at(&later, KeyRotate { key: old.key.prefix.clone(), overlap_minutes: None }).await,
        "KEY_INACTIVE",
    );
    let now = w.run(KeyRotate { key: r.issued.key.prefix.clone(), overlap_minutes: Some(0) }).await.unwrap();
    assert_eq!(now.replaced.revoked_at, Some(t0()), "overlap 0 revokes at once");
    assert_invalid(
        w.run(KeyRotate { key: now.issued.key.prefix.clone(), overlap_minutes: Some(-1) }).await,
        "overlap_minutes",
    );
    assert_eq!(w.run(KeyList { tenant: "acme".into() }).await.unwrap().len(), 3, "rotation adds keys, never deletes");
}

/// Reconciliation reads keys a page at a time (so a pass never holds a second copy of
/// them all): keys added, changed and removed behind the console's back are found on
/// every page, and memory then holds exactly the database's keys.
#[tokio::test]
async fn reconciliation_pages_through_keys_and_repairs_each_page() {
    use std::sync::Arc;
    use tollgate_core::live::Live;
    use tollgate_core::live::reconcile::reconcile;
    use tollgate_core::store::keys::digest;
    let w = world().await;
    w.plan("pro", 0).await;
    let tenant_id = w.tenant("acme", "pro").await.tenant.id;
    let store = w.console.store().clone();
    let secret = |i: usize| format!("tg_live_paged{i:06}");
    let insert = |from: usize, to: usize| {
        let store = store.clone();
        async move {
            let mut write = store.begin().await.unwrap();
            for i in from..to {
                tollgate_core::on!(&mut *write, |c| sqlx::query("INSERT INTO api_keys (tenant_id, prefix, secret_hash, name, scopes, created_at) VALUES ($1, $2, $3, 'k', '[]', $4)")
                    .bind(tenant_id)
                    .bind(format!("tg_live_p{i}"))
                    .bind(hash_secret(&secret(i)))
                    .bind(t0())
                    .execute(c).await.map(drop))
                    .unwrap();
            }
            write.commit().await.unwrap();
        }
    };
    insert(0, 5000).await;
    let live = Arc::new(Live::load(&store).await.unwrap());
    assert_eq!(reconcile(&live, &store).await.unwrap(), Some(0), "memory agrees after loading");

    // Behind the console's back: 5,000 more keys (two more pages), one key on the first
    // page revoked, one on the second removed.
    insert(5000, 10_000).await;
    let mut write = store.begin().await.unwrap();
    tollgate_core::on!(&mut *write, |c| sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE prefix = 'tg_live_p10'"
    )
    .bind(t0())
    .execute(c)
    .await
    .map(drop))
    .unwrap();
    tollgate_core::on!(&mut *write, |c| sqlx::query("DELETE FROM api_keys WHERE prefix = 'tg_live_p4500'")
        .execute(c)
        .await
        .map(drop))
    .unwrap();
    write.commit().await.unwrap();
    assert_eq!(reconcile(&live, &store).await.unwrap(), Some(5002), "every added, changed and removed key is drift");
    let held = |i: usize| live.key(&digest(&secret(i)));
    assert!(held(9999).is_some_and(|k| k.tenant_id == tenant_id), "a key from the last page is in memory");
    assert!(held(10).is_some_and(|k| k.revoked), "the revocation reached memory");
    assert!(held(4500).is_none(), "the removed key left memory");
    assert_eq!(live.counts().0, 9999, "memory holds exactly the database's keys");
    assert_eq!(reconcile(&live, &store).await.unwrap(), Some(0), "once");
}

/// A reconciliation pass shares the runtime's thread with the gateway's requests (one
/// thread on a one-CPU server): it must give the thread back after every page, so a
/// request waits behind one page at most, never behind a pass over every key. A task
/// beside it on a one-thread runtime looks at memory each time it gets the thread: between
/// two looks, the pass has repaired at most one page of keys.
#[tokio::test(flavor = "current_thread")]
async fn a_reconciliation_pass_gives_the_thread_back_after_every_page() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tollgate_core::live::Live;
    use tollgate_core::live::reconcile::reconcile;
    let w = world().await;
    w.plan("pro", 0).await;
    let tenant_id = w.tenant("acme", "pro").await.tenant.id;
    let store = w.console.store().clone();
    let live = Arc::new(Live::load(&store).await.unwrap());
    // 6,000 keys behind the console's back: every one of them is drift to repair.
    let mut write = store.begin().await.unwrap();
    let sql = store.engine().pick(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000)
         INSERT INTO api_keys (tenant_id, prefix, secret_hash, name, scopes, created_at)
         SELECT $1, 'tg_live_y' || i, lower(hex(randomblob(32))), 'k', '[]', $2 FROM n",
        "INSERT INTO api_keys (tenant_id, prefix, secret_hash, name, scopes, created_at)
         SELECT $1, 'tg_live_y' || i, md5(i::text) || md5(random()::text), 'k', '[]', $2 FROM generate_series(1, 6000) i",
    );
    tollgate_core::on!(&mut *write, |c| sqlx::query(sql).bind(tenant_id).bind(t0()).execute(c).await.map(drop))
        .unwrap();
    write.commit().await.unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn({
        let (live, done) = (live.clone(), done.clone());
        async move {
            let mut looks = vec![live.counts().0];
            while !done.load(Ordering::Relaxed) {
                tokio::task::yield_now().await;
                looks.push(live.counts().0);
            }
            looks
        }
    });
    assert_eq!(reconcile(&live, &store).await.unwrap(), Some(6000), "every key added behind the back");
    done.store(true, Ordering::Relaxed);
    let looks = watcher.await.unwrap();
    assert_eq!(looks.last().copied(), Some(6000), "all of them in memory");
    // Pages are 512 keys; a request may wait behind that, not behind thousands.
    let most = looks.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    assert!(most <= 1000, "at most a page between two turns of another task, not {most}");
}
