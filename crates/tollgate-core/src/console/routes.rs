//! `route.create`, `route.update`, `route.delete`, `route.list`.

use crate::console::command::{Command, Ctx};
use crate::console::commit::commit;
use crate::domain::list::List;
use crate::domain::{cidr, validate};
use crate::store::audit::Change;
use crate::store::routes::{
    self, Route, RouteCreate, RouteDelete, RouteList, RouteUpdate, Shape, by_id, check_unique, metered, methods,
    optional_token, path_prefix, target, upstream_ca, upstream_url,
};
use crate::{Console, ConsoleError};

impl Command for RouteCreate {
    const NAME: &'static str = "route.create";
    const SUMMARY: &'static str = "Create a route: path prefix and methods to an upstream, with a cost";
    type Output = Route;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<Route, ConsoleError> {
        let url = upstream_url(&self.upstream_url)?;
        let shape = Shape {
            path_prefix: path_prefix(&self.path_prefix)?,
            methods: methods(&self.methods)?,
            upstream_ca: upstream_ca(&url, self.upstream_ca.as_deref())?,
            upstream_url: url,
            cost: validate::non_negative("cost", self.cost.unwrap_or(1))?,
            required_feature: optional_token("required_feature", self.required_feature.as_deref())?,
            required_scope: optional_token("required_scope", self.required_scope.as_deref())?,
            ip_allow: cidr::list("ip_allow", &self.ip_allow)?,
            ip_deny: cidr::list("ip_deny", &self.ip_deny)?,
            metering: self.metering.unwrap_or_default(),
            max_cost: None,
            charge_header: None,
            on_cancel: self.on_cancel.unwrap_or_default(),
            pay_per_call_tenant_id: None,
        };
        let mut shape = shape;
        (shape.max_cost, shape.charge_header) = metered(shape.metering, self.max_cost, self.charge_header.as_deref())?;
        let mut tx = console.begin().await?;
        shape.pay_per_call_tenant_id = pay_per_call(&mut tx, self.pay_per_call.as_deref(), None).await?;
        check_unique(&mut tx, &shape, None).await?;
        let route = routes::insert(&mut tx, &shape, ctx.now).await?;
        let change = Change::created(Self::NAME, target(route.id), &route);
        commit(console, tx, ctx, change).await?;
        Ok(route)
    }
}

impl Command for RouteUpdate {
    const NAME: &'static str = "route.update";
    const SUMMARY: &'static str = "Change a route";
    type Output = Route;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<Route, ConsoleError> {
        let mut tx = console.begin().await?;
        let before = by_id(&mut tx, self.id).await?;
        let url = upstream_url(self.upstream_url.as_deref().unwrap_or(&before.upstream_url))?;
        let shape = Shape {
            path_prefix: path_prefix(self.path_prefix.as_deref().unwrap_or(&before.path_prefix))?,
            methods: methods(self.methods.as_deref().unwrap_or(&before.methods))?,
            upstream_ca: upstream_ca(&url, self.upstream_ca.as_deref().or(before.upstream_ca.as_deref()))?,
            upstream_url: url,
            cost: validate::non_negative("cost", self.cost.unwrap_or(before.cost))?,
            required_feature: match self.required_feature.as_deref() {
                None => before.required_feature.clone(),
                some => optional_token("required_feature", some)?,
            },
            required_scope: match self.required_scope.as_deref() {
                None => before.required_scope.clone(),
                some => optional_token("required_scope", some)?,
            },
            ip_allow: match &self.ip_allow {
                None => before.ip_allow.clone(),
                Some(items) => cidr::list("ip_allow", items)?,
            },
            ip_deny: match &self.ip_deny {
                None => before.ip_deny.clone(),
                Some(items) => cidr::list("ip_deny", items)?,
            },
            metering: self.metering.unwrap_or(before.metering),
            max_cost: None,
            charge_header: None,
            on_cancel: self.on_cancel.unwrap_or(before.on_cancel),
            pay_per_call_tenant_id: None,
        };
        let mut shape = shape;
        let (max_cost, header) =
            (self.max_cost.or(before.max_cost), self.charge_header.as_deref().or(before.charge_header.as_deref()));
        (shape.max_cost, shape.charge_header) = metered(shape.metering, max_cost, header)?;
        shape.pay_per_call_tenant_id =
            pay_per_call(&mut tx, self.pay_per_call.as_deref(), before.pay_per_call_tenant_id).await?;
        check_unique(&mut tx, &shape, Some(before.id)).await?;
        let after = routes::update(&mut tx, before.id, &shape, ctx.now).await?;
        let change = Change::updated(Self::NAME, target(after.id), &before, &after);
        commit(console, tx, ctx, change).await?;
        Ok(after)
    }
}

/// The tenant a pay-per-call route charges: `slug`'s id, none for an empty slug, `kept`
/// when not given.
async fn pay_per_call(
    conn: &mut crate::store::Connection,
    slug: Option<&str>,
    kept: Option<i64>,
) -> Result<Option<i64>, ConsoleError> {
    match slug.map(str::trim) {
        None => Ok(kept),
        Some("") => Ok(None),
        Some(slug) => match crate::store::tenants::by_slug(conn, slug).await {
            Ok(tenant) => Ok(Some(tenant.id)),
            Err(ConsoleError::NotFound { .. }) => {
                Err(ConsoleError::invalid("pay_per_call", format!("no tenant '{slug}' to charge the calls to")))
            }
            Err(e) => Err(e),
        },
    }
}

impl Command for RouteDelete {
    const NAME: &'static str = "route.delete";
    const SUMMARY: &'static str = "Delete a route; its path then answers 404";
    type Output = Route;

    async fn run(self, console: &Console, ctx: &Ctx) -> Result<Route, ConsoleError> {
        let mut tx = console.begin().await?;
        let before = by_id(&mut tx, self.id).await?;
        routes::delete(&mut tx, before.id).await?;
        let change = Change::removed(Self::NAME, target(before.id), &before);
        commit(console, tx, ctx, change).await?;
        Ok(before)
    }
}

impl Command for RouteList {
    const NAME: &'static str = "route.list";
    const SUMMARY: &'static str = "List routes";
    type Output = List<Route>;

    async fn run(self, console: &Console, _ctx: &Ctx) -> Result<List<Route>, ConsoleError> {
        let mut conn = console.store().reader().await?;
        Ok(List(routes::list(&mut conn).await?))
    }
}
