use tollgate_core::store::import::{ImportFormat, TenantImport};
use tollgate_core::store::keys::{KeyList, hash_secret};
use tollgate_core::store::tenants::TenantList;

use crate::common::{assert_invalid, world};

const FOREIGN_KEY: &str = "sk_live_0123456789abcdefghijklmnop";

#[tokio::test]
async fn csv_brings_tenants_balances_and_hashed_keys() {
    let w = world().await;
    w.plan("pro", 100).await;
    let data = format!(
        "slug,name,plan,email,credits,key,key_name,scopes\n\
         acme,Acme Corp,pro,ops@acme.io,5000,{FOREIGN_KEY},legacy,read;write\n\
         ,Globex,pro,,,,,\n"
    );
    let report = w.run(TenantImport { format: ImportFormat::Csv, data, dry_run: false }).await.unwrap();
    assert_eq!(
        (report.tenants, report.keys, report.credits),
        (2, 1, 5000),
        "two tenants, one key, the opening balance"
    );
    let tenants = w.run(TenantList::default()).await.unwrap();
    let balances: Vec<(String, i64)> = tenants.iter().map(|t| (t.slug.clone(), t.balance)).collect();
    assert_eq!(balances, [("acme".to_string(), 5100), ("globex".to_string(), 100)], "plan grant plus opening balance");
    let keys = w.run(KeyList { tenant: "acme".into() }).await.unwrap();
    assert_eq!(
        (keys[0].name.as_str(), keys[0].scopes.clone()),
        ("legacy", vec!["read".to_string(), "write".to_string()]),
        "name and scopes"
    );
    assert!(keys[0].prefix.starts_with("sk_live_…"), "a recognisable prefix: {}", keys[0].prefix);
    assert!(!keys[0].prefix.contains("0123"), "that reveals no more than a quarter of the key: {}", keys[0].prefix);
    let stored: String = tollgate_core::on!(&mut w.console.store().reader().await.unwrap(), |c| sqlx::query_scalar(
        "SELECT secret_hash FROM api_keys"
    )
    .fetch_one(c)
    .await)
    .unwrap();
    assert_eq!(stored, hash_secret(FOREIGN_KEY), "the plaintext key is hashed on import");
}

#[tokio::test]
async fn json_lines_work_too() {
    let w = world().await;
    w.plan("pro", 0).await;
    let data = format!(
        "{{\"name\":\"Acme\",\"plan\":\"pro\",\"key\":\"{FOREIGN_KEY}\",\"scopes\":[\"read\"]}}\n\n{{\"name\":\"Initech\",\"plan\":\"pro\"}}\n"
    );
    let report = w.run(TenantImport { format: ImportFormat::Jsonl, data, dry_run: false }).await.unwrap();
    assert_eq!((report.tenants, report.keys), (2, 1), "blank lines are skipped");
}

/// Two keys with the same head whose hashes start with the same 8 hex digits (found by a
/// birthday search): their visible prefixes must still differ, or the second is refused.
#[tokio::test]
async fn keys_whose_hashes_share_a_start_are_imported_apart() {
    let w = world().await;
    w.plan("pro", 0).await;
    let (a, b) = ("sk_live_collide_00006529", "sk_live_collide_00028567");
    assert_eq!(hash_secret(a)[..8], hash_secret(b)[..8], "the pair clashes on 32 bits of hash");
    let data = format!("slug,name,plan,email,credits,key,key_name,scopes\n,A,pro,,,{a},,\n,B,pro,,,{b},,\n");
    let report = w.run(TenantImport { format: ImportFormat::Csv, data, dry_run: false }).await.unwrap();
    assert_eq!(report.keys, 2, "both keys are imported");
}

#[tokio::test]
async fn one_bad_record_names_its_line_and_imports_nothing() {
    let w = world().await;
    w.plan("pro", 0).await;
    let before = w.dump().await;
    let bad_plan = "slug,name,plan\nacme,Acme,pro\nglobex,Globex,gold\n".to_string();
    let err = w.run(TenantImport { format: ImportFormat::Csv, data: bad_plan, dry_run: false }).await.unwrap_err();
    assert!(
        err.to_string().contains("line 3") && err.to_string().contains("gold"),
        "names the line and the plan: {err}"
    );
    let bad_credits = "slug,name,plan,credits\nacme,Acme,pro,-5\n".to_string();
    assert_invalid(
        w.run(TenantImport { format: ImportFormat::Csv, data: bad_credits, dry_run: false }).await,
        "line 2: credits",
    );
    let short_key = "slug,name,plan,key\nacme,Acme,pro,short\n".to_string();
    assert_invalid(
        w.run(TenantImport { format: ImportFormat::Csv, data: short_key, dry_run: false }).await,
        "line 2: key",
    );
    let junk = "{\"name\": \"Acme\", \"plan\": \"pro\", \"colour\": \"red\"}".to_string();
    let err = w.run(TenantImport { format: ImportFormat::Jsonl, data: junk, dry_run: false }).await.unwrap_err();
    assert!(
        err.to_string().contains("line 1") && err.to_string().contains("colour"),
        "unknown fields are named: {err}"
    );
    let dup = "slug,name,plan\nacme,Acme,pro\nacme,Acme again,pro\n".to_string();
    assert!(
        w.run(TenantImport { format: ImportFormat::Csv, data: dup, dry_run: false })
            .await
            .unwrap_err()
            .to_string()
            .contains("line 3"),
        "duplicates too"
    );
    assert_invalid(
        w.run(TenantImport { format: ImportFormat::Csv, data: "slug,name,plan\n".into(), dry_run: false }).await,
        "data",
    );
    assert_eq!(w.dump().await, before, "nothing from a refused import is kept");
}

#[tokio::test]
async fn a_dry_run_reports_every_bad_line_and_what_would_be_created_and_creates_nothing() {
    let w = world().await;
    w.plan("pro", 100).await;
    w.run(TenantImport { format: ImportFormat::Csv, data: "slug,name,plan\ntaken,Taken,pro\n".into(), dry_run: false })
        .await
        .unwrap();
    let before = w.dump().await;
    let data = format!(
        "slug,name,plan,email,credits,key,key_name,scopes\n\
         acme,Acme Corp,pro,ops@acme.io,5000,{FOREIGN_KEY},legacy,read\n\
         globex,Globex,gold,,,,,\n\
         taken,Taken again,pro,,,,,\n\
         ,Initech,pro,,,,,\n"
    );
    let report = w.run(TenantImport { format: ImportFormat::Csv, data: data.clone(), dry_run: true }).await.unwrap();
    assert!(report.dry_run);
    let rows: Vec<(i64, &str, i64, Option<&str>)> =
        report.rows.iter().map(|r| (r.line, r.slug.as_str(), r.credits, r.key_name.as_deref())).collect();
    assert_eq!(rows, [(2, "acme", 5000, Some("legacy")), (5, "initech", 0, None)], "the good lines, slugs derived");
    let errors: Vec<(i64, bool)> = report.errors.iter().map(|e| (e.line, e.message.contains("gold"))).collect();
    assert_eq!(errors, [(3, true), (4, false)], "the unknown plan and the taken slug: {:?}", report.errors);
    assert_eq!((report.bad_lines, report.tenants, report.credits), (2, 2, 5000));
    assert!(report.errors[1].message.contains("taken"), "{:?}", report.errors[1]);
    assert_eq!(w.dump().await, before, "a dry run creates nothing");

    let good = "slug,name,plan,credits\nacme,Acme Corp,pro,5000\n,Initech,pro,\n".to_string();
    let preview = w.run(TenantImport { format: ImportFormat::Csv, data: good.clone(), dry_run: true }).await.unwrap();
    let done = w.run(TenantImport { format: ImportFormat::Csv, data: good, dry_run: false }).await.unwrap();
    assert_eq!(
        (preview.rows, preview.tenants, preview.credits),
        (done.rows, done.tenants, done.credits),
        "the preview is what is created"
    );
    assert!(!done.dry_run && done.errors.is_empty());
}
