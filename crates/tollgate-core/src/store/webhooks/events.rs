//! Which webhook events a change or a gateway decision makes, and their payloads. Pure:
//! audit entries (console changes) and gateway events go in, `(type, data)` comes out.

use serde_json::{Value, json};

use crate::store::audit::AuditEntry;

/// Every event type an endpoint may subscribe to.
pub const EVENT_TYPES: [&str; 10] = [
    "balance.low",
    "balance.depleted",
    "denials.spike",
    "credits.topped_up",
    "key.issued",
    "key.revoked",
    "key.rotated",
    "subscription.past_due",
    "subscription.canceled",
    "subscription.renewed",
];

/// The types that come from the gateway's decisions, not from console changes.
pub const GATEWAY_TYPES: [&str; 3] = ["balance.low", "balance.depleted", "denials.spike"];

/// The event a console change makes, if any.
pub fn of_change(entry: &AuditEntry) -> Option<(&'static str, Value)> {
    let tenant = entry.target.strip_prefix("tenant:")?;
    let after = entry.after.as_ref()?;
    let field = |v: &Value, k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    let (kind, data) = match entry.action.as_str() {
        "credits.topup" => (
            "credits.topped_up",
            json!({"tenant": tenant, "amount": field(after, "amount"), "balance": field(after, "balance"), "paid": field(after, "paid")}),
        ),
        "key.issue" => {
            ("key.issued", json!({"tenant": tenant, "key": field(after, "prefix"), "name": field(after, "name")}))
        }
        "key.revoke" => ("key.revoked", json!({"tenant": tenant, "key": field(after, "prefix")})),
        "key.rotate" => (
            "key.rotated",
            json!({"tenant": tenant, "replaced": field(&field(after, "replaced"), "prefix"), "issued": field(&field(after, "issued"), "prefix")}),
        ),
        "subscription.set-status" | "subscription.renew" => {
            let status = after.get("status").and_then(Value::as_str)?;
            let before = entry.before.as_ref().and_then(|b| b.get("status")).and_then(Value::as_str);
            let kind = match (entry.action.as_str(), status) {
                ("subscription.renew", _) => "subscription.renewed",
                (_, "past_due") if before != Some("past_due") => "subscription.past_due",
                (_, "canceled") if before != Some("canceled") => "subscription.canceled",
                _ => return None,
            };
            let data = json!({"tenant": tenant, "status": status, "plan": field(after, "plan"),
                              "period_end": field(after, "period_end"), "grace_until": field(after, "grace_until")});
            (kind, data)
        }
        _ => return None,
    };
    Some((kind, data))
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;

    fn entry(action: &str, before: Option<Value>, after: Value) -> AuditEntry {
        AuditEntry {
            id: 1,
            at: Utc::now(),
            actor: "cli".into(),
            action: action.into(),
            target: "tenant:acme".into(),
            reason: None,
            before,
            after: Some(after),
        }
    }

    #[test]
    fn console_changes_make_their_events_and_others_none() {
        let topup = of_change(&entry("credits.topup", None, json!({"amount": 5, "balance": 9}))).unwrap();
        assert_eq!((topup.0, &topup.1["amount"], &topup.1["tenant"]), ("credits.topped_up", &json!(5), &json!("acme")));
        let past_due =
            entry("subscription.set-status", Some(json!({"status": "active"})), json!({"status": "past_due"}));
        assert_eq!(of_change(&past_due).unwrap().0, "subscription.past_due");
        let still =
            entry("subscription.set-status", Some(json!({"status": "past_due"})), json!({"status": "past_due"}));
        assert_eq!(of_change(&still), None, "no change of status, no event");
        assert_eq!(of_change(&entry("subscription.set-status", None, json!({"status": "active"}))), None);
        assert_eq!(of_change(&entry("tenant.update", None, json!({}))), None);
        let rotated =
            of_change(&entry("key.rotate", None, json!({"replaced": {"prefix": "a"}, "issued": {"prefix": "b"}})));
        assert_eq!(rotated.unwrap().1["issued"], "b");
    }
}
