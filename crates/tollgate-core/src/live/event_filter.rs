//! Which live events a viewer wants: the same filter for the SSE stream of `tollgate
//! serve` and the desktop's IPC channel, so both dashboards narrow the feed alike.

use serde::Deserialize;

use crate::ConsoleError;
use crate::live::events::Event;

/// A viewer's filter as it arrives (query string or IPC); comma-separated lists match any
/// of their values, and absent parts match everything.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    /// e.g. `402` or `401,402,403,429`.
    pub status: Option<String>,
    /// e.g. `INSUFFICIENT_CREDITS`.
    pub code: Option<String>,
    /// A tenant slug.
    pub tenant: Option<String>,
    /// `gateway`, `console` or both (the default).
    pub kind: Option<String>,
}

/// A checked [`EventFilter`], cheap to test against every event on the hub.
#[derive(Debug, Clone, Default)]
pub struct EventMatcher {
    statuses: Vec<u16>,
    codes: Vec<String>,
    tenant: Option<String>,
    /// `tenant:<slug>`, the audit target of console actions on that tenant, made once.
    tenant_target: Option<String>,
    kinds: Vec<String>,
}

fn list(value: &Option<String>) -> Vec<String> {
    value.iter().flat_map(|v| v.split(',')).map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

impl EventFilter {
    /// The filter as URL parameters (`status=402&tenant=acme`), as `GET /api/events` takes
    /// it: how a console forwards it to a remote server.
    pub fn query_string(&self) -> String {
        let parts = [("status", &self.status), ("code", &self.code), ("tenant", &self.tenant), ("kind", &self.kind)];
        let encode = |v: &str| -> String {
            v.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b',' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect()
        };
        parts
            .iter()
            .filter_map(|(name, value)| value.as_deref().map(|v| format!("{name}={}", encode(v))))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Checks the filter, naming the part that is wrong.
    pub fn matcher(&self) -> Result<EventMatcher, ConsoleError> {
        let statuses = list(&self.status)
            .iter()
            .map(|s| {
                s.parse::<u16>().map_err(|_| ConsoleError::invalid("status", format!("'{s}' is not an HTTP status")))
            })
            .collect::<Result<_, _>>()?;
        let kinds = list(&self.kind);
        if let Some(bad) = kinds.iter().find(|k| *k != "gateway" && *k != "console") {
            return Err(ConsoleError::invalid("kind", format!("'{bad}' is neither 'gateway' nor 'console'")));
        }
        let tenant = self.tenant.as_ref().map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
        let tenant_target = tenant.as_ref().map(|t| format!("tenant:{t}"));
        Ok(EventMatcher { statuses, codes: list(&self.code), tenant, tenant_target, kinds })
    }
}

impl EventMatcher {
    /// Whether the viewer wants `event`. Console actions pass a status or code filter
    /// never, and a tenant filter when they changed that tenant.
    pub fn matches(&self, event: &Event) -> bool {
        if matches!(event, Event::Storage(_)) {
            return true; // every viewer must learn that storage fails, whatever it filters
        }
        if !self.kinds.is_empty() && !self.kinds.iter().any(|k| k == event.kind()) {
            return false;
        }
        match event {
            Event::Gateway(g) => {
                (self.statuses.is_empty() || self.statuses.contains(&g.status))
                    && (self.codes.is_empty() || g.code.as_deref().is_some_and(|c| self.codes.iter().any(|w| w == c)))
                    && (self.tenant.is_none() || g.tenant.as_deref() == self.tenant.as_deref())
            }
            Event::Console(c) => {
                self.statuses.is_empty()
                    && self.codes.is_empty()
                    && self.tenant_target.as_ref().is_none_or(|t| c.target == *t)
            }
            Event::Storage(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::events::GatewayEvent;

    fn gateway(status: u16, code: Option<&str>, tenant: Option<&str>) -> Event {
        Event::Gateway(GatewayEvent {
            at: chrono::Utc::now(),
            request_id: "r".into(),
            tenant: tenant.map(Into::into),
            key_prefix: None,
            route: None,
            method: "GET".into(),
            path: "/".into(),
            status,
            code: code.map(|c| c.to_owned().into()),
            cost: 0,
            balance: None,
            latency_us: 1,
            facts: None,
            node: None,
        })
    }

    fn filter(status: &str, code: &str, tenant: &str, kind: &str) -> EventFilter {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        EventFilter { status: some(status), code: some(code), tenant: some(tenant), kind: some(kind) }
    }

    #[test]
    fn lists_match_any_value_and_parts_combine() {
        let m = filter("401, 402", "", "acme", "gateway").matcher().unwrap();
        assert!(m.matches(&gateway(402, Some("INSUFFICIENT_CREDITS"), Some("acme"))));
        assert!(m.matches(&gateway(401, Some("INVALID_API_KEY"), Some("acme"))));
        assert!(!m.matches(&gateway(429, Some("RATE_LIMITED"), Some("acme"))), "status outside the list");
        assert!(!m.matches(&gateway(402, Some("INSUFFICIENT_CREDITS"), Some("globex"))), "another tenant");
        let codes = filter("", "RATE_LIMITED", "", "").matcher().unwrap();
        assert!(!codes.matches(&gateway(200, None, Some("acme"))), "a served call has no code");
        assert!(EventFilter::default().matcher().unwrap().matches(&gateway(200, None, None)), "no filter: all");
    }

    #[test]
    fn console_actions_pass_a_tenant_filter_for_that_tenant_only() {
        let action = |target: &str| {
            Event::Console(crate::store::audit::AuditEntry {
                id: 1,
                at: chrono::Utc::now(),
                actor: "desktop".into(),
                action: "credits.topup".into(),
                target: target.into(),
                reason: None,
                before: None,
                after: None,
            })
        };
        let acme = filter("", "", "acme", "").matcher().unwrap();
        assert!(acme.matches(&action("tenant:acme")));
        assert!(!acme.matches(&action("tenant:acme-corp")), "the whole slug, not a prefix");
        assert!(!acme.matches(&action("plan:pro")));
        assert!(!filter("402", "", "", "").matcher().unwrap().matches(&action("tenant:acme")), "no status");
        assert!(EventFilter::default().matcher().unwrap().matches(&action("plan:pro")));
    }

    #[test]
    fn a_bad_filter_names_its_part() {
        let e = filter("abc", "", "", "").matcher().unwrap_err();
        assert_eq!((e.body().field.as_deref(), e.to_string().contains("'abc'")), (Some("status"), true));
        let e = filter("", "", "", "gateway,audit").matcher().unwrap_err();
        assert_eq!(e.body().field.as_deref(), Some("kind"));
    }
}
