//! What deserves the operator's attention while the monitor is out of sight: a tenant
//! whose balance just fell to the low-balance threshold, and a burst of denials. Pure:
//! gateway events and `now` go in, at most one alert a minute per kind comes out. The
//! desktop turns them into native notifications and its tray count.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, TimeDelta, Utc};

use crate::domain::gateway_event::GatewayEvent;
use crate::store::settings::Settings;

/// The two things worth interrupting the operator for; each is debounced on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// A tenant's balance fell to the low-balance threshold.
    LowBalance,
    /// Denials within a minute reached the spike threshold.
    DenialSpike,
}

/// One notification, ready to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// What the alert is about; each kind is debounced on its own.
    pub kind: AlertKind,
    /// The notification's headline, e.g. "acme is low on credits".
    pub title: String,
    /// The facts, e.g. the balance and the threshold.
    pub body: String,
}

/// The thresholds in force, read from the settings on every tick so changes apply at once.
#[derive(Debug, Clone, Copy)]
pub struct AlertRules {
    /// Credits at or below which a tenant is low.
    pub low_balance_threshold: i64,
    /// Denials within a minute that make a spike; 0 turns spike alerts off.
    pub spike_per_minute: i64,
}

impl From<&Settings> for AlertRules {
    fn from(s: &Settings) -> Self {
        Self { low_balance_threshold: s.low_balance_threshold, spike_per_minute: s.denial_spike_per_minute }
    }
}

/// The debounce and the spike's window.
const MINUTE: TimeDelta = TimeDelta::seconds(60);

/// Watches the gateway's decisions and decides when to alert.
#[derive(Debug, Default)]
pub struct Alerts {
    /// Denials of the last minute (time and the index of their code in `codes`), oldest
    /// first: a few bytes each, at any rate of denials.
    recent: VecDeque<(DateTime<Utc>, u16)>,
    /// The denial codes seen, each stored once (there are a couple of dozen).
    codes: Vec<String>,
    /// Tenants that crossed the threshold and were not yet announced, with their balance.
    low: BTreeMap<String, i64>,
    /// A spike seen and not yet announced, described when it was seen.
    spike: Option<Alert>,
    /// A spike re-arms only once the rate has fallen to half the threshold, so a
    /// sustained burst is one alert, not one a minute.
    spike_armed: bool,
    last_low: Option<DateTime<Utc>>,
    last_spike: Option<DateTime<Utc>>,
}

impl Alerts {
    /// A watcher with the spike alert armed.
    pub fn new() -> Self {
        Self { spike_armed: true, ..Self::default() }
    }

    /// Takes one gateway decision into account.
    pub fn observe(&mut self, event: &GatewayEvent, rules: AlertRules) {
        if (400..500).contains(&event.status) {
            let code = self.code_index(event.code.as_deref().unwrap_or("DENIED"));
            self.recent.push_back((event.at, code));
            let count = self.denials_last_minute(event.at);
            if rules.spike_per_minute > 0 && count as i64 >= rules.spike_per_minute && self.spike_armed {
                self.spike_armed = false;
                self.spike = Some(self.spike_alert(count));
            }
        }
        // Crossing, not being low: the charge took the balance from above the threshold to
        // at or below it. A tenant sitting low does not alert again with every call.
        if let (Some(tenant), Some(balance)) = (&event.tenant, event.balance)
            && event.cost > 0
            && balance <= rules.low_balance_threshold
            && balance + event.cost > rules.low_balance_threshold
        {
            self.low.insert(tenant.to_string(), balance);
        }
    }

    /// Denials in the minute before `now` (the tray shows this).
    pub fn denials_last_minute(&mut self, now: DateTime<Utc>) -> usize {
        while self.recent.front().is_some_and(|(at, _)| *at <= now - MINUTE) {
            self.recent.pop_front();
        }
        self.recent.len()
    }

    /// The alerts to show now: pending ones whose kind has been quiet for a minute.
    /// Held ones are not lost; they are merged into the next alert of their kind.
    pub fn due(&mut self, now: DateTime<Utc>, rules: AlertRules) -> Vec<Alert> {
        let count = self.denials_last_minute(now);
        if !self.spike_armed && (count as i64) * 2 <= rules.spike_per_minute {
            self.spike_armed = true;
        }
        let quiet = |last: Option<DateTime<Utc>>| last.is_none_or(|t| now - t >= MINUTE);
        let mut alerts = Vec::new();
        if !self.low.is_empty() && quiet(self.last_low) {
            self.last_low = Some(now);
            alerts.push(low_balance(std::mem::take(&mut self.low), rules.low_balance_threshold));
        }
        if self.spike.is_some() && quiet(self.last_spike) {
            self.last_spike = Some(now);
            alerts.extend(self.spike.take());
        }
        alerts
    }

    fn code_index(&mut self, code: &str) -> u16 {
        match self.codes.iter().position(|c| c == code) {
            Some(i) => i as u16,
            None => {
                self.codes.push(code.to_string());
                (self.codes.len() - 1) as u16
            }
        }
    }

    /// The spike as it stands now: its size and its most frequent code.
    fn spike_alert(&self, size: usize) -> Alert {
        let mut by_code = vec![0usize; self.codes.len()];
        for (_, code) in &self.recent {
            by_code[*code as usize] += 1;
        }
        let top = by_code.iter().enumerate().max_by_key(|(i, n)| (**n, std::cmp::Reverse(&self.codes[*i])));
        let body = match top {
            Some((i, n)) => format!("{size} denials within a minute; most were {} ({n}).", self.codes[i]),
            None => format!("{size} denials within a minute."),
        };
        Alert { kind: AlertKind::DenialSpike, title: "Denials are spiking".into(), body }
    }
}

fn low_balance(tenants: BTreeMap<String, i64>, threshold: i64) -> Alert {
    if tenants.len() == 1 {
        let (tenant, balance) = tenants.into_iter().next().expect("one tenant");
        return Alert {
            kind: AlertKind::LowBalance,
            title: format!("{tenant} is low on credits"),
            body: format!("Balance {balance} credits (threshold {threshold}). Top up before its calls get 402."),
        };
    }
    let list: Vec<String> = tenants.iter().map(|(t, b)| format!("{t} ({b})")).collect();
    Alert {
        kind: AlertKind::LowBalance,
        title: format!("{} tenants are low on credits", tenants.len()),
        body: format!("At or below {threshold} credits: {}.", list.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: AlertRules = AlertRules { low_balance_threshold: 100, spike_per_minute: 10 };

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    fn served(at: i64, tenant: &str, cost: i64, balance: i64) -> GatewayEvent {
        GatewayEvent {
            at: t(at),
            request_id: "r".into(),
            tenant: Some(tenant.into()),
            key_prefix: None,
            route: Some("/v1".into()),
            method: "GET".into(),
            path: "/v1".into(),
            status: 200,
            code: None,
            cost,
            balance: Some(balance),
            latency_us: 1,
            facts: None,
            node: None,
        }
    }

    fn denied(at: i64, code: &str) -> GatewayEvent {
        GatewayEvent { status: 402, code: Some(code.to_owned().into()), cost: 0, ..served(at, "acme", 0, 0) }
    }

    #[test]
    fn a_balance_crossing_the_threshold_alerts_once() {
        let mut a = Alerts::new();
        a.observe(&served(0, "acme", 5, 150), RULES);
        assert!(a.due(t(0), RULES).is_empty(), "above the threshold");
        a.observe(&served(1, "acme", 5, 98), RULES);
        let alerts = a.due(t(1), RULES);
        assert_eq!(alerts.len(), 1);
        assert_eq!((alerts[0].kind, alerts[0].title.as_str()), (AlertKind::LowBalance, "acme is low on credits"));
        assert!(alerts[0].body.contains("98") && alerts[0].body.contains("100"), "{}", alerts[0].body);
        a.observe(&served(2, "acme", 5, 93), RULES);
        assert!(a.due(t(120), RULES).is_empty(), "staying low is not a new crossing");
    }

    #[test]
    fn crossings_within_a_minute_are_held_and_merged_not_lost() {
        let mut a = Alerts::new();
        a.observe(&served(0, "acme", 1, 100), RULES);
        assert_eq!(a.due(t(0), RULES).len(), 1, "landing exactly on the threshold counts");
        a.observe(&served(10, "globex", 10, 95), RULES);
        a.observe(&served(20, "initech", 200, 0), RULES);
        assert!(a.due(t(30), RULES).is_empty(), "debounced: one a minute");
        let merged = a.due(t(60), RULES);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].title, "2 tenants are low on credits");
        assert!(merged[0].body.contains("globex (95)") && merged[0].body.contains("initech (0)"), "{}", merged[0].body);
    }

    #[test]
    fn a_spike_alerts_once_per_burst_and_rearms_when_it_calms() {
        let mut a = Alerts::new();
        for i in 0..9 {
            a.observe(&denied(i, "INSUFFICIENT_CREDITS"), RULES);
        }
        assert!(a.due(t(9), RULES).is_empty(), "9 < 10 a minute");
        a.observe(&denied(9, "RATE_LIMITED"), RULES);
        let alerts = a.due(t(10), RULES);
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].kind, AlertKind::DenialSpike);
        assert!(alerts[0].body.contains("10 denials") && alerts[0].body.contains("INSUFFICIENT_CREDITS (9)"));
        for i in 10..80 {
            a.observe(&denied(i, "RATE_LIMITED"), RULES);
        }
        assert!(a.due(t(80), RULES).is_empty(), "a sustained burst is one alert");
        assert_eq!(a.denials_last_minute(t(80)), 59, "the window holds the last minute");
        assert!(a.due(t(200), RULES).is_empty(), "calm again: re-armed, nothing to say");
        for i in 200..210 {
            a.observe(&denied(i, "RATE_LIMITED"), RULES);
        }
        assert_eq!(a.due(t(210), RULES).len(), 1, "a new burst alerts again");
    }

    #[test]
    fn spike_alerts_can_be_turned_off() {
        let mut a = Alerts::new();
        let off = AlertRules { spike_per_minute: 0, ..RULES };
        for i in 0..500 {
            a.observe(&denied(i % 60, "RATE_LIMITED"), off);
        }
        assert_eq!(a.denials_last_minute(t(59)), 500, "still counted for the tray");
        assert!(a.due(t(60), off).is_empty());
    }

    #[test]
    fn served_calls_and_upstream_failures_are_not_denials() {
        let mut a = Alerts::new();
        a.observe(&served(0, "acme", 1, 5000), RULES);
        a.observe(
            &GatewayEvent { status: 502, code: Some("UPSTREAM_UNAVAILABLE".into()), ..served(0, "acme", 0, 1) },
            RULES,
        );
        assert_eq!(a.denials_last_minute(t(1)), 0);
    }
}
