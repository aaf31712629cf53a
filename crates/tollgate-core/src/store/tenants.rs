//! Tenants: the customers who hold keys, a subscription and a credit balance.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ConsoleError;
use crate::domain::cidr::{self, Cidr, IpRules};
use crate::domain::ctx::Ctx;
pub use crate::domain::standing::Standing;
use crate::domain::validate;
use crate::error::is_unique_violation;
use crate::store::keys::{self, ApiKey};
use crate::store::plans::{self, Plan};
use crate::store::subscriptions::{self, Subscription};
use crate::store::{Connection, ledger, on};
use crate::store::{Write, settings};

/// A tenant as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct Tenant {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub contact_email: Option<String>,
    pub standing: Standing,
    /// Where this tenant pays; overrides the settings' template when set.
    pub billing_link: Option<String>,
    /// Current credits; always equal to the sum of the tenant's ledger.
    pub balance: i64,
    /// Client addresses (CIDR blocks) the tenant's keys work from; empty: every address
    /// not denied.
    #[sqlx(json)]
    #[schema(value_type = Vec<String>)]
    pub ip_allow: Vec<Cidr>,
    /// Client addresses (CIDR blocks) refused with 403 `IP_NOT_ALLOWED`; wins over `ip_allow`.
    #[sqlx(json)]
    #[schema(value_type = Vec<String>)]
    pub ip_deny: Vec<Cidr>,
    /// The tenant's customer id at Stripe (`cus_…`): Stripe events naming it apply here.
    pub stripe_customer: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `tenant.create`: a tenant on a plan, with the plan's first-period credits granted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct TenantCreate {
    /// Display name; the slug is derived from it unless given.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(min_length = 1, max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub name: String,
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub slug: Option<String>,
    /// The plan to start on.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub plan: String,
    #[cfg_attr(feature = "cli", arg(long = "email"))]
    #[schema(max_length = 320, pattern = r"^[^@\s]+@[^@\s.][^@\s]*\.[^@\s]*[^@\s.]$")]
    pub contact_email: Option<String>,
    /// Overrides the billing link template for this tenant.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^https?://[^\s/?#:][^\s]*$")]
    pub billing_link: Option<String>,
    /// Start with a trial of this many days instead of a paid period.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(minimum = 1, maximum = 365)]
    pub trial_days: Option<i64>,
    /// Client addresses the tenant's keys work from, CIDR blocks or addresses,
    /// comma-separated (at most 256); none: every address not denied.
    #[cfg_attr(feature = "cli", arg(long, value_delimiter = ',', value_name = "CIDRS"))]
    #[serde(default)]
    #[schema(max_items = 256)]
    pub ip_allow: Vec<String>,
    /// Client addresses refused (403 `IP_NOT_ALLOWED`); wins over `ip_allow`.
    #[cfg_attr(feature = "cli", arg(long, value_delimiter = ',', value_name = "CIDRS"))]
    #[serde(default)]
    #[schema(max_items = 256)]
    pub ip_deny: Vec<String>,
}

/// Validates `input`, inserts the tenant and starts its subscription (granting the first
/// period's credits) inside `tx`; shared by `tenant.create` and `tenant.import`.
pub(crate) async fn create(tx: &mut Write, ctx: &Ctx, input: &TenantCreate) -> Result<Tenant, ConsoleError> {
    let name = validate::name("name", &input.name)?;
    let slug = match &input.slug {
        Some(s) => validate::slug("slug", s)?,
        None => validate::slugify("name", &name)?,
    };
    let email = input.contact_email.as_deref().map(|e| validate::email("contact_email", e)).transpose()?;
    let link = input.billing_link.as_deref().map(|l| validate::http_url("billing_link", l)).transpose()?;
    if let Some(d) = input.trial_days
        && !(1..=365).contains(&d)
    {
        return Err(ConsoleError::invalid("trial_days", format!("must be 1-365, got {d}")));
    }
    let ip_allow = cidr::list("ip_allow", &input.ip_allow)?;
    let ip_deny = cidr::list("ip_deny", &input.ip_deny)?;
    let plan = plans::selectable(&mut *tx, &input.plan).await?;
    let tenant = on!(&mut **tx, |c| sqlx::query_as::<_, Tenant>(
        "INSERT INTO tenants (slug, name, contact_email, billing_link, ip_allow, ip_deny, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *",
    )
    .bind(&slug)
    .bind(&name)
    .bind(&email)
    .bind(&link)
    .bind(sqlx::types::Json(&ip_allow))
    .bind(sqlx::types::Json(&ip_deny))
    .bind(ctx.now)
    .bind(ctx.now)
    .fetch_one(c)
    .await)
    .map_err(|e| {
        if is_unique_violation(&e) {
            ConsoleError::Conflict {
                code: "SLUG_TAKEN",
                message: format!("a tenant with slug '{slug}' already exists"),
            }
        } else {
            e.into()
        }
    })?;
    subscriptions::start(tx, ctx, &tenant, &plan, input.trial_days).await?;
    Ok(tenant)
}

/// `tenant.update`: name, contact, billing link and address rules. An empty value clears
/// an optional field or a list.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct TenantUpdate {
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub tenant: String,
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(min_length = 1, max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub name: Option<String>,
    #[cfg_attr(feature = "cli", arg(long = "email"))]
    #[schema(max_length = 320, pattern = r"^[^@\s]+@[^@\s.][^@\s]*\.[^@\s]*[^@\s.]$")]
    pub contact_email: Option<String>,
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^https?://[^\s/?#:][^\s]*$")]
    pub billing_link: Option<String>,
    /// Replaces the allowed client addresses (CIDR blocks or addresses, comma-separated);
    /// empty clears the list.
    #[cfg_attr(feature = "cli", arg(long, value_delimiter = ',', value_name = "CIDRS"))]
    #[schema(max_items = 256)]
    pub ip_allow: Option<Vec<String>>,
    /// Replaces the refused client addresses; empty clears the list.
    #[cfg_attr(feature = "cli", arg(long, value_delimiter = ',', value_name = "CIDRS"))]
    #[schema(max_items = 256)]
    pub ip_deny: Option<Vec<String>>,
    /// The tenant's Stripe customer id (`cus_…`); empty clears it.
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(pattern = r"^$|^cus_[A-Za-z0-9]{1,100}$")]
    pub stripe_customer: Option<String>,
}

/// A Stripe customer id: `cus_` and letters or digits.
pub(crate) fn stripe_customer(c: &str) -> Result<String, ConsoleError> {
    let ok =
        c.len() > 4 && c.len() <= 104 && c.starts_with("cus_") && c[4..].bytes().all(|b| b.is_ascii_alphanumeric());
    if ok {
        Ok(c.to_string())
    } else {
        Err(ConsoleError::invalid("stripe_customer", format!("'{c}' is not a Stripe customer id (cus_…)")))
    }
}

macro_rules! standing_command {
    ($ty:ident, $name:literal, $summary:literal, $standing:expr) => {
        #[doc = concat!("`", $name, "`: ", $summary, ".")]
        #[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
        #[cfg_attr(feature = "cli", derive(clap::Args))]
        #[serde(deny_unknown_fields)]
        pub struct $ty {
            #[cfg_attr(feature = "cli", arg(long))]
            #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
            pub tenant: String,
            /// Why, for the audit log.
            #[cfg_attr(feature = "cli", arg(long))]
            #[schema(max_length = 500, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
            pub reason: Option<String>,
        }

        impl $ty {
            pub(crate) const ACTION: &'static str = $name;
            pub(crate) const ABOUT: &'static str = $summary;
            pub(crate) const STANDING: Standing = $standing;
        }
    };
}

standing_command!(TenantSuspend, "tenant.suspend", "Suspend a tenant for non-payment (402)", Standing::Suspended);
standing_command!(
    TenantResume,
    "tenant.resume",
    "Return a suspended or blocked tenant to good standing",
    Standing::Active
);
standing_command!(TenantBlock, "tenant.block", "Block a tenant for abuse (403 whatever is paid)", Standing::Blocked);

impl Tenant {
    /// The tenant's address rules, as the policy checks them.
    #[must_use]
    pub fn ip_rules(&self) -> IpRules<'_> {
        IpRules { allow: &self.ip_allow, deny: &self.ip_deny }
    }
}

/// One line of the tenant list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
pub struct TenantRow {
    pub slug: String,
    pub name: String,
    pub standing: Standing,
    pub plan: String,
    pub status: subscriptions::SubscriptionStatus,
    pub balance: i64,
    pub period_end: DateTime<Utc>,
    pub contact_email: Option<String>,
    /// Denials in the last 24 hours: who is hitting the gate most.
    pub denials_24h: i64,
}

/// `tenant.list`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct TenantList {
    /// Only tenants whose slug, name or e-mail contains this text.
    #[cfg_attr(feature = "cli", arg(long))]
    pub search: Option<String>,
}

/// Everything the operator needs to see about one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TenantDetail {
    pub tenant: Tenant,
    pub subscription: Subscription,
    pub plan: Plan,
    pub keys: Vec<ApiKey>,
    /// Where this tenant pays: its own link, or the settings' template filled in.
    pub billing_link: String,
    /// Credits of `strict` usage committed to the journal (SQLite) and not yet folded into
    /// the ledger, which the next usage write does: spent from the balance, not yet in the
    /// newest entry's `balance_after`. Always 0 on PostgreSQL.
    #[serde(default)]
    pub unfolded_strict_credits: i64,
}

/// `tenant.show`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
#[serde(deny_unknown_fields)]
pub struct TenantShow {
    #[cfg_attr(feature = "cli", arg(long))]
    #[schema(max_length = 63, pattern = r"^[a-z0-9][a-z0-9-]*$")]
    pub tenant: String,
}

/// Loads a tenant's [`TenantDetail`].
pub(crate) async fn detail(conn: &mut Connection, slug: &str) -> Result<TenantDetail, ConsoleError> {
    let tenant = by_slug(conn, slug).await?;
    let subscription = subscriptions::of(conn, tenant.id).await?;
    let plan: Plan = on!(&mut *conn, |c| sqlx::query_as("SELECT * FROM plans WHERE id = $1")
        .bind(subscription.plan_id)
        .fetch_one(c)
        .await)?;
    let keys = keys::of_tenant(conn, tenant.id).await?;
    let settings = settings::load(conn).await?;
    let billing_link = settings::billing_link(&settings, &tenant);
    let unfolded_strict_credits = ledger::journal::unfolded_credits_of(conn, tenant.id).await?;
    Ok(TenantDetail { tenant, subscription, plan, keys, billing_link, unfolded_strict_credits })
}

/// The tenant called `slug`, or a not-found error naming it.
pub(crate) async fn by_slug(conn: &mut Connection, slug: &str) -> Result<Tenant, ConsoleError> {
    find(conn, slug).await?.ok_or_else(|| ConsoleError::not_found("tenant", slug))
}

/// The tenant called `slug`, if there is one.
pub(crate) async fn find(conn: &mut Connection, slug: &str) -> sqlx::Result<Option<Tenant>> {
    on!(conn, |c| sqlx::query_as::<_, Tenant>("SELECT * FROM tenants WHERE slug = $1")
        .bind(slug)
        .fetch_optional(c)
        .await)
}

/// The audit target naming a tenant.
pub(crate) fn target(slug: &str) -> String {
    format!("tenant:{slug}")
}

/// Tenant `tenant_id`'s stored balance.
pub(crate) async fn balance(conn: &mut Connection, tenant_id: i64) -> sqlx::Result<i64> {
    on!(conn, |c| sqlx::query_scalar("SELECT balance FROM tenants WHERE id = $1").bind(tenant_id).fetch_one(c).await)
}

/// The slug of the tenant other than `except_id` whose Stripe customer is `customer`.
pub(crate) async fn holder_of_customer(
    conn: &mut Connection,
    customer: &str,
    except_id: i64,
) -> sqlx::Result<Option<String>> {
    on!(conn, |c| sqlx::query_scalar("SELECT slug FROM tenants WHERE stripe_customer = $1 AND id != $2")
        .bind(customer)
        .bind(except_id)
        .fetch_optional(c)
        .await)
}

/// Writes `tenant`'s details (name, contact, billing link, address rules, Stripe customer)
/// over tenant `tenant.id`; its slug, standing and balance are not touched.
pub(crate) async fn update(conn: &mut Connection, tenant: &Tenant) -> sqlx::Result<Tenant> {
    on!(conn, |c| sqlx::query_as::<_, Tenant>(
        "UPDATE tenants SET name = $1, contact_email = $2, billing_link = $3, ip_allow = $4, ip_deny = $5,
            stripe_customer = $6, updated_at = $7
         WHERE id = $8 RETURNING *",
    )
    .bind(&tenant.name)
    .bind(&tenant.contact_email)
    .bind(&tenant.billing_link)
    .bind(sqlx::types::Json(&tenant.ip_allow))
    .bind(sqlx::types::Json(&tenant.ip_deny))
    .bind(&tenant.stripe_customer)
    .bind(tenant.updated_at)
    .bind(tenant.id)
    .fetch_one(c)
    .await)
}

/// Sets tenant `id`'s standing.
pub(crate) async fn set_standing(
    conn: &mut Connection,
    id: i64,
    standing: Standing,
    now: DateTime<Utc>,
) -> sqlx::Result<Tenant> {
    on!(conn, |c| sqlx::query_as::<_, Tenant>(
        "UPDATE tenants SET standing = $1, updated_at = $2 WHERE id = $3 RETURNING *"
    )
    .bind(standing)
    .bind(now)
    .bind(id)
    .fetch_one(c)
    .await)
}

/// A listed tenant with its id, to find its balance in memory.
#[derive(sqlx::FromRow)]
pub(crate) struct Listed {
    pub id: i64,
    #[sqlx(flatten)]
    pub row: TenantRow,
}

/// Every tenant whose slug, name or e-mail contains `search` (all without it), by slug,
/// with its denials in the 24 hours before `now`.
pub(crate) async fn list(conn: &mut Connection, search: Option<&str>, now: DateTime<Utc>) -> sqlx::Result<Vec<Listed>> {
    let pattern = search.map(|s| format!("%{}%", s.trim().replace(['%', '_'], "")));
    on!(conn, |c| {
        sqlx::query_as::<_, Listed>(
        "SELECT t.id, t.slug, t.name, t.standing, p.slug AS plan, s.status, t.balance, s.period_end, t.contact_email,
            CAST((SELECT COALESCE(SUM(d.requests), 0) FROM denial_minutes d WHERE d.tenant = t.slug AND d.minute >= $2) AS BIGINT) AS denials_24h
         FROM tenants t JOIN subscriptions s ON s.tenant_id = t.id JOIN plans p ON p.id = s.plan_id
         WHERE $1 IS NULL OR t.slug LIKE $1 OR t.name LIKE $1 OR t.contact_email LIKE $1
         ORDER BY t.slug",
    )
    .bind(pattern)
    .bind(now - chrono::TimeDelta::hours(24))
    .fetch_all(c).await
    })
}

/// The slug of tenant `id`, if it exists.
pub(crate) async fn slug_of(conn: &mut Connection, id: i64) -> sqlx::Result<Option<String>> {
    on!(conn, |c| sqlx::query_scalar("SELECT slug FROM tenants WHERE id = $1").bind(id).fetch_optional(c).await)
}

/// The slug of the tenant whose Stripe customer is `customer`.
pub(crate) async fn of_customer(conn: &mut Connection, customer: &str) -> sqlx::Result<Option<String>> {
    on!(conn, |c| sqlx::query_scalar("SELECT slug FROM tenants WHERE stripe_customer = $1")
        .bind(customer)
        .fetch_optional(c)
        .await)
}
