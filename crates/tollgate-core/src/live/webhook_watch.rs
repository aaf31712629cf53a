//! The webhook events a gateway decision makes: balances crossing the low-balance
//! threshold or reaching zero, and denial spikes.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::domain::gateway_event::GatewayEvent;
use crate::live::alerts::{AlertKind, AlertRules, Alerts};

/// Watches gateway decisions for balances crossing the low-balance threshold or reaching
/// zero, and for denial spikes (debounced as the desktop's alerts are).
#[derive(Debug, Default)]
pub struct GatewayWatch {
    spikes: Alerts,
}

impl GatewayWatch {
    pub fn new() -> Self {
        Self { spikes: Alerts::new() }
    }

    /// The events `event` makes at once (balances); spikes come from [`Self::due`].
    pub fn observe(&mut self, event: &GatewayEvent, rules: AlertRules) -> Vec<(&'static str, Value)> {
        self.spikes.observe(event, rules);
        let mut out = Vec::new();
        if let (Some(tenant), Some(balance)) = (&event.tenant, event.balance)
            && event.cost > 0
        {
            // Crossings only: the charge took the balance from above to at or below.
            let threshold = rules.low_balance_threshold;
            if balance <= threshold && balance + event.cost > threshold {
                out.push(("balance.low", json!({"tenant": tenant, "balance": balance, "threshold": threshold})));
            }
            if balance == 0 {
                out.push(("balance.depleted", json!({"tenant": tenant, "balance": 0})));
            }
        }
        out
    }

    /// A denial spike to announce now, at most one a minute.
    pub fn due(&mut self, now: DateTime<Utc>, rules: AlertRules) -> Option<(&'static str, Value)> {
        let count = self.spikes.denials_last_minute(now);
        let spike = self.spikes.due(now, rules).into_iter().find(|a| a.kind == AlertKind::DenialSpike)?;
        Some((
            "denials.spike",
            json!({"denials_last_minute": count, "threshold": rules.spike_per_minute, "summary": spike.body}),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balances_alert_when_crossing_not_while_low() {
        let mut watch = GatewayWatch::new();
        let rules = AlertRules { low_balance_threshold: 10, spike_per_minute: 0 };
        let served = |balance: i64| GatewayEvent {
            at: Utc::now(),
            request_id: "r".into(),
            tenant: Some("acme".into()),
            key_prefix: None,
            route: None,
            method: "GET".into(),
            path: "/".into(),
            status: 200,
            code: None,
            cost: 1,
            balance: Some(balance),
            latency_us: 1,
            facts: None,
            node: None,
        };
        assert!(watch.observe(&served(11), rules).is_empty());
        assert_eq!(watch.observe(&served(10), rules)[0].0, "balance.low");
        assert!(watch.observe(&served(9), rules).is_empty(), "already low");
        assert_eq!(watch.observe(&served(0), rules)[0].0, "balance.depleted");
    }
}
