//! The live state's rules that no timing can reach from outside: a change applies only
//! when newer than what memory holds, and reconciliation leaves newer state alone.

use std::sync::Arc;

use chrono::{TimeZone, Utc};

use super::reconcile::tests::snapshot;
use super::{Fresh, Live, LiveKey, TenantState};
use crate::store::routes::Route;
use crate::store::settings::Settings;
use crate::store::subscriptions::SubscriptionStatus;
use crate::store::tenants::Standing;

const DIGEST: [u8; 32] = [7; 32];
const LOCALHOST: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

pub(super) fn tenant(standing: Standing) -> TenantState {
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    TenantState {
        id: 1,
        slug: "acme".into(),
        standing,
        billing_link: None,
        plan_id: 1,
        status: SubscriptionStatus::Active,
        period_start: t0,
        period_end: t0 + chrono::TimeDelta::days(30),
        grace_until: None,
        balance: 100,
        reserved: 0,
        unwritten: 0,
        rate_tat: None,
        period_used: 0,
        ip_allow: vec![],
        ip_deny: vec![],
        key_spend: std::collections::HashMap::new(),
        version: 0,
    }
}

pub(super) fn key(revoked: bool) -> Arc<LiveKey> {
    Arc::new(LiveKey {
        id: 1,
        tenant_id: 1,
        prefix: "tg_live_abcdefgh".into(),
        revoked,
        expires_at: None,
        scopes: vec![],
        cap: None,
    })
}

fn tenant_change(standing: Standing, revoked: bool) -> Fresh {
    Fresh::Tenant(tenant(standing), vec![(DIGEST, key(revoked))])
}

fn route(cost: i64) -> Route {
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    Route {
        id: 1,
        path_prefix: "/v1".into(),
        methods: vec![],
        upstream_url: "http://127.0.0.1:9".into(),
        upstream_ca: None,
        cost,
        required_feature: None,
        required_scope: None,
        ip_allow: vec![],
        ip_deny: vec![],
        metering: crate::domain::metering::Metering::Fixed,
        max_cost: None,
        charge_header: None,
        on_cancel: crate::domain::metering::OnCancel::Nothing,
        pay_per_call_tenant_id: None,
        created_at: t0,
        updated_at: t0,
    }
}

fn settings(template: &str) -> Settings {
    Settings { billing_link_template: template.into(), ..Settings::default() }
}

#[test]
fn a_change_read_before_a_newer_one_but_applied_after_it_is_dropped() {
    let live = Live::default();
    live.apply(tenant_change(Standing::Active, false), 4);
    live.apply(Fresh::Routes(vec![route(1)]), 4);
    live.apply(Fresh::Settings(Box::new(settings("a"))), 4);

    live.apply(tenant_change(Standing::Blocked, true), 6);
    live.apply(Fresh::Routes(vec![route(3)]), 6);
    live.apply(Fresh::Settings(Box::new(settings("c"))), 6);
    // Write 5 committed before write 6 but reached memory after it.
    live.apply(tenant_change(Standing::Suspended, false), 5);
    live.apply(Fresh::Routes(vec![route(2)]), 5);
    live.apply(Fresh::Settings(Box::new(settings("b"))), 5);

    let t = live.tenant(1).unwrap();
    assert_eq!((t.standing, t.version), (Standing::Blocked, 6), "the tenant stays at the newer write");
    assert!(live.key(&DIGEST).unwrap().revoked, "so does its key");
    assert_eq!(live.route("GET", "/v1").unwrap().cost, 3, "and the routes");
    assert_eq!(live.settings().billing_link_template, "c", "and the settings");
}

#[test]
fn a_stored_change_keeps_the_balance_memory_moves_itself() {
    let live = Live::default();
    live.apply(tenant_change(Standing::Active, false), 1);
    live.credit(1, 50);
    let mut suspended = tenant(Standing::Suspended);
    suspended.balance = 0; // the stored balance lags memory's; a change never copies it
    live.apply(Fresh::Tenant(suspended, vec![]), 2);
    let t = live.tenant(1).unwrap();
    assert_eq!((t.standing, t.balance), (Standing::Suspended, 150), "standing taken, balance kept");
}

#[test]
fn reconciliation_repairs_what_is_not_newer_than_the_database_and_counts_it() {
    let live = Live::default();
    live.apply(tenant_change(Standing::Active, false), 5);
    live.apply(Fresh::Routes(vec![route(1)]), 5);
    live.apply(Fresh::Settings(Box::new(settings("a"))), 5);

    // The database at write 5 agrees: nothing to do.
    let db = snapshot(5, tenant(Standing::Active), key(false), vec![route(1)], settings("a"));
    assert_eq!(live.repair(db, true), 0, "memory agrees with the database");

    // Memory holds write 7; a snapshot taken at write 6 is older and must not win.
    live.apply(tenant_change(Standing::Blocked, true), 7);
    let older = snapshot(6, tenant(Standing::Active), key(false), vec![route(1)], settings("a"));
    assert_eq!(live.repair(older, true), 0, "newer memory is left alone");
    assert_eq!(live.tenant(1).unwrap().standing, Standing::Blocked, "as it was");

    // Changed behind the console's back (no audit entry): same version, other facts.
    let behind = snapshot(7, tenant(Standing::Suspended), key(false), vec![route(2)], settings("b"));
    assert_eq!(live.repair(behind, true), 4, "tenant, key, routes and settings each differ once");
    assert_eq!(live.tenant(1).unwrap().standing, Standing::Suspended, "the database's side is taken");
    assert!(!live.key(&DIGEST).unwrap().revoked, "for the key too");
    assert_eq!(live.route("GET", "/v1").unwrap().cost, 2, "and the routes");
    assert_eq!(live.settings().billing_link_template, "b", "and the settings");
}

#[test]
fn a_charge_below_its_reservation_spends_that_much_and_gives_the_rest_back() {
    let live = Live::default();
    live.apply(tenant_change(Standing::Active, false), 1);
    let r = live.reserve(1, 10).unwrap();
    let t = live.tenant(1).unwrap();
    assert_eq!((t.balance, t.reserved), (90, 10), "the most it can cost is set aside");
    assert_eq!(r.hand_over_part(4), 4, "batched: charged 4");
    let t = live.tenant(1).unwrap();
    assert_eq!((t.balance, t.reserved, t.unwritten), (96, 0, 4), "6 back, 4 on their way to the ledger");

    let r = live.reserve(1, 10).unwrap();
    assert_eq!(r.spend_part(3), 3, "strict: charged 3");
    let t = live.tenant(1).unwrap();
    assert_eq!((t.balance, t.reserved, t.unwritten), (93, 0, 4), "7 back");
    assert_eq!(t.balance + t.reserved + t.unwritten, 100 - 3, "stored: the strict charge, the batched one on its way");

    let r = live.reserve(1, 10).unwrap();
    assert_eq!(r.hand_over_part(25), 10, "never more than was reserved");
    assert_eq!(live.tenant(1).unwrap().balance, 83);
    assert_eq!(live.tenant(1).unwrap().period_used, 3, "each served request counts once");
}

/// A tenant at zero credits on a plan of 1 request/s: its retries run into the rate limit,
/// but `answers` still says the payment condition, and reports the limit apart.
#[test]
fn answers_name_the_payment_condition_behind_a_rate_limit_and_change_nothing() {
    use super::RateNow;
    use crate::domain::policy::{DenialCode, Outcome};
    use crate::store::keys::{PresentedKey, digest};
    use crate::store::plans::{BillingPeriod, Plan};

    let t0 = Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap();
    let live = Live::default();
    let mut broke = tenant(Standing::Active);
    broke.balance = 0;
    live.apply(Fresh::Tenant(broke, vec![(digest("tg_live_secret"), key(false))]), 1);
    live.apply(Fresh::Routes(vec![route(1)]), 1);
    live.apply(
        Fresh::Plan(Plan {
            id: 1,
            slug: "slow".into(),
            name: "Slow".into(),
            price_minor: 0,
            currency: "USD".into(),
            billing_period: BillingPeriod::Month,
            credits_per_period: 0,
            features: vec![],
            rate_per_second: Some(1),
            burst: 1,
            period_quota: None,
            grace_days: 0,
            archived: false,
            created_at: t0,
            updated_at: t0,
            subscribers: None,
        }),
        1,
    );
    let r = live.route("GET", "/v1").expect("the route is live");
    let code = |o: &Outcome| match o {
        Outcome::Deny(d) => Some(d.code),
        Outcome::Allow { .. } => None,
    };
    let first = live.admit(PresentedKey::Key("tg_live_secret"), &r, LOCALHOST, t0);
    assert_eq!(code(&first.outcome), Some(DenialCode::InsufficientCredits), "the first call: no credits");
    // Retries at the same instant use up the burst, then get 429.
    let retries: Vec<_> =
        (0..5).map(|_| code(&live.admit(PresentedKey::Key("tg_live_secret"), &r, LOCALHOST, t0).outcome)).collect();
    assert_eq!(retries.last(), Some(&Some(DenialCode::RateLimited)), "retries run into the limit: {retries:?}");

    let before = live.tenant(1).unwrap();
    let answers = live.answers(1, t0).expect("the tenant is live");
    assert_eq!(
        code(&answers.routes[0].outcome),
        Some(DenialCode::InsufficientCredits),
        "the answer is the payment condition, not the transient 429"
    );
    assert!(matches!(answers.rate, RateNow::Over { .. }), "the limit is reported apart: {:?}", answers.rate);
    assert_eq!(live.tenant(1).unwrap(), before, "asking reserved, counted and stored nothing");
    let later = live.answers(1, t0 + chrono::TimeDelta::seconds(5)).unwrap();
    assert_eq!(later.rate, RateNow::Within, "the limit passes by itself");
}

/// Every key is held in memory (100,000 in the benchmark's floods, whose peak RSS has a
/// target): a key without a spend cap pays one pointer for it, not the cap itself.
#[test]
fn a_key_in_memory_stays_small() {
    let size = std::mem::size_of::<LiveKey>();
    assert!(size <= 96, "LiveKey is {size} bytes");
}
