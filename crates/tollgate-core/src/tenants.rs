//! Tenants: the customers who hold keys, a subscription and a credit balance.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::SqliteConnection;
use utoipa::ToSchema;

use crate::audit::{self, Change};
use crate::cidr::{self, Cidr, IpRules};
use crate::command::{Command, Ctx};
use crate::error::is_unique_violation;
use crate::keys::{self, ApiKey};
use crate::list::List;
use crate::plans::{self, Plan};
use crate::settings;
use crate::store::Write;
use crate::subscriptions::{self, Subscription};
use crate::{Console, ConsoleError, validate};

/// Whether a tenant may use the API at all, apart from its subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[sqlx(rename_all = "snake_case")]
pub enum Standing {
    /// In good standing.
    Active,
    /// Stopped for non-payment: the gateway answers 402 until resumed.
    Suspended,
    /// Stopped for abuse: the gateway answers 403 whatever is paid.
    Blocked,
}

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

impl Command for TenantCreate {
    const NAME: &'static str = "tenant.create";
    const SUMMARY: &'static str = "Create a tenant on a plan";
    type Output = TenantDetail;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<TenantDetail, ConsoleError> {
        let mut tx = console.begin().await?;
        let tenant = create(&mut tx, ctx, &self).await?;
        let detail = detail(&mut tx, &tenant.slug).await?;
        let change = Change::created(Self::NAME, target(&tenant.slug), &detail.tenant);
        audit::commit(console, tx, ctx, change).await?;
        Ok(detail)
    }
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
    let tenant = sqlx::query_as::<_, Tenant>(
        "INSERT INTO tenants (slug, name, contact_email, billing_link, ip_allow, ip_deny, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
    )
    .bind(&slug)
    .bind(&name)
    .bind(&email)
    .bind(&link)
    .bind(cidr::to_json(&ip_allow))
    .bind(cidr::to_json(&ip_deny))
    .bind(ctx.now)
    .bind(ctx.now)
    .fetch_one(&mut **tx)
    .await
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

impl Command for TenantUpdate {
    const NAME: &'static str = "tenant.update";
    const SUMMARY: &'static str = "Change a tenant's name, contact e-mail, billing link or address rules";
    type Output = Tenant;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<Tenant, ConsoleError> {
        let mut tx = console.begin().await?;
        let before = by_slug(&mut tx, &self.tenant).await?;
        let name = match &self.name {
            Some(n) => validate::name("name", n)?,
            None => before.name.clone(),
        };
        let email = match self.contact_email.as_deref().map(str::trim) {
            None => before.contact_email.clone(),
            Some("") => None,
            Some(e) => Some(validate::email("contact_email", e)?),
        };
        let link = match self.billing_link.as_deref().map(str::trim) {
            None => before.billing_link.clone(),
            Some("") => None,
            Some(l) => Some(validate::http_url("billing_link", l)?),
        };
        let ip_allow = match &self.ip_allow {
            None => before.ip_allow.clone(),
            Some(items) => cidr::list("ip_allow", items)?,
        };
        let ip_deny = match &self.ip_deny {
            None => before.ip_deny.clone(),
            Some(items) => cidr::list("ip_deny", items)?,
        };
        let stripe_customer = match self.stripe_customer.as_deref().map(str::trim) {
            None => before.stripe_customer.clone(),
            Some("") => None,
            Some(c) => Some(stripe_customer(c)?),
        };
        if let Some(customer) = &stripe_customer {
            let holder: Option<String> =
                sqlx::query_scalar("SELECT slug FROM tenants WHERE stripe_customer = ? AND id != ?")
                    .bind(customer)
                    .bind(before.id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(holder) = holder {
                return Err(ConsoleError::Conflict {
                    code: "STRIPE_CUSTOMER_TAKEN",
                    message: format!("Stripe customer {customer} is already tenant {holder}'s"),
                });
            }
        }
        let after = sqlx::query_as::<_, Tenant>(
            "UPDATE tenants SET name = ?, contact_email = ?, billing_link = ?, ip_allow = ?, ip_deny = ?,
                stripe_customer = ?, updated_at = ?
             WHERE id = ? RETURNING *",
        )
        .bind(&name)
        .bind(&email)
        .bind(&link)
        .bind(cidr::to_json(&ip_allow))
        .bind(cidr::to_json(&ip_deny))
        .bind(&stripe_customer)
        .bind(ctx.now)
        .bind(before.id)
        .fetch_one(&mut *tx)
        .await?;
        let change = Change::updated(Self::NAME, target(&after.slug), &before, &after);
        audit::commit(console, tx, ctx, change).await?;
        Ok(after)
    }
}

/// A Stripe customer id: `cus_` and letters or digits.
fn stripe_customer(c: &str) -> Result<String, ConsoleError> {
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

        impl Command for $ty {
            const NAME: &'static str = $name;
            const SUMMARY: &'static str = $summary;
            type Output = Tenant;

            async fn run(self, console: &Console, ctx: &Ctx) -> Result<Tenant, ConsoleError> {
                set_standing(console, ctx, Self::NAME, &self.tenant, $standing, self.reason.as_deref()).await
            }
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

/// Sets a tenant's standing; setting the standing it already has changes nothing and is not an error.
async fn set_standing(
    console: &Console,
    ctx: &Ctx,
    action: &str,
    slug: &str,
    standing: Standing,
    reason: Option<&str>,
) -> Result<Tenant, ConsoleError> {
    let reason = validate::note("reason", reason)?;
    let mut tx = console.begin().await?;
    let before = by_slug(&mut tx, slug).await?;
    if before.standing == standing {
        return Ok(before);
    }
    let after = sqlx::query_as::<_, Tenant>("UPDATE tenants SET standing = ?, updated_at = ? WHERE id = ? RETURNING *")
        .bind(standing)
        .bind(ctx.now)
        .bind(before.id)
        .fetch_one(&mut *tx)
        .await?;
    let change = Change::updated(action, target(slug), &before, &after).because(reason.as_deref());
    audit::commit(console, tx, ctx, change).await?;
    Ok(after)
}

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

impl Command for TenantList {
    const NAME: &'static str = "tenant.list";
    const SUMMARY: &'static str = "List tenants with their plan, status and balance";
    type Output = List<TenantRow>;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<List<TenantRow>, ConsoleError> {
        /// A row with the tenant's id, to find its balance in memory.
        #[derive(sqlx::FromRow)]
        struct Listed {
            id: i64,
            #[sqlx(flatten)]
            row: TenantRow,
        }
        let pattern = self.search.map(|s| format!("%{}%", s.trim().replace(['%', '_'], "")));
        let listed = sqlx::query_as::<_, Listed>(
            "SELECT t.id, t.slug, t.name, t.standing, p.slug AS plan, s.status, t.balance, s.period_end, t.contact_email,
                (SELECT COALESCE(SUM(d.requests), 0) FROM denial_minutes d WHERE d.tenant = t.slug AND d.minute >= ?2) AS denials_24h
             FROM tenants t JOIN subscriptions s ON s.tenant_id = t.id JOIN plans p ON p.id = s.plan_id
             WHERE ?1 IS NULL OR t.slug LIKE ?1 OR t.name LIKE ?1 OR t.contact_email LIKE ?1
             ORDER BY t.slug",
        )
        .bind(pattern)
        .bind(ctx.now - chrono::TimeDelta::hours(24))
        .fetch_all(console.store().read())
        .await?;
        // The same balance as tenant.show: memory's, with usage not yet written.
        Ok(List(
            listed
                .into_iter()
                .map(|Listed { id, mut row }| {
                    row.balance = charged_balance(console, id, row.balance);
                    row
                })
                .collect(),
        ))
    }
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

impl Command for TenantShow {
    const NAME: &'static str = "tenant.show";
    const SUMMARY: &'static str = "Show a tenant with its subscription, plan and keys";
    type Output = TenantDetail;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<TenantDetail, ConsoleError> {
        let mut conn = console.store().read().acquire().await?;
        let mut detail = detail(&mut conn, &self.tenant).await?;
        detail.tenant.balance = charged_balance(console, detail.tenant.id, detail.tenant.balance);
        Ok(detail)
    }
}

/// The balance to show for a tenant whose stored balance is `stored`: with a gateway
/// running, what memory holds (spendable plus reserved), which already counts the
/// `batched` usage not yet written to the ledger (it is written every `usage_flush_ms`), so
/// the operator sees the customer's last request at once.
pub(crate) fn charged_balance(console: &Console, tenant_id: i64, stored: i64) -> i64 {
    console.live().and_then(|live| live.tenant(tenant_id)).map_or(stored, |t| t.balance + t.reserved)
}

/// Loads a tenant's [`TenantDetail`].
pub(crate) async fn detail(conn: &mut SqliteConnection, slug: &str) -> Result<TenantDetail, ConsoleError> {
    let tenant = by_slug(conn, slug).await?;
    let subscription = subscriptions::of(conn, tenant.id).await?;
    let plan: Plan =
        sqlx::query_as("SELECT * FROM plans WHERE id = ?").bind(subscription.plan_id).fetch_one(&mut *conn).await?;
    let keys = keys::of_tenant(conn, tenant.id).await?;
    let settings = settings::load(conn).await?;
    let billing_link = settings::billing_link(&settings, &tenant);
    Ok(TenantDetail { tenant, subscription, plan, keys, billing_link })
}

/// The tenant called `slug`, or a not-found error naming it.
pub(crate) async fn by_slug(conn: &mut SqliteConnection, slug: &str) -> Result<Tenant, ConsoleError> {
    sqlx::query_as::<_, Tenant>("SELECT * FROM tenants WHERE slug = ?")
        .bind(slug)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| ConsoleError::not_found("tenant", slug))
}

/// The audit target naming a tenant.
pub(crate) fn target(slug: &str) -> String {
    format!("tenant:{slug}")
}
