//! Readable output for humans: any command's JSON output as tables and key/value blocks.
//!
//! Rendering works on JSON, not on the Rust types, so every command gets a table without
//! code of its own, and the output is the same whether it came from the server or not.

use std::borrow::Cow;

use serde_json::{Map, Value};
use tollgate_core::domain::validate::is_control_char;

/// Renders a command's output for a terminal.
pub fn human(value: &Value) -> String {
    let mut out = String::new();
    block(&mut out, &for_people(value, None), None);
    out
}

/// The output as a person reads it: amounts in minor units (`price_minor` beside a
/// `currency`) become money (`price  49.00 USD`), and a nested record's empty field that
/// its parent states in full (a tenant's own `billing_link`, unset, beside the link it
/// actually gets) is left out, so one fact is not shown twice with two values.
fn for_people(value: &Value, parent: Option<&Map<String, Value>>) -> Value {
    match value {
        // Rows are not compared with their parent: a table keeps the same columns in every row.
        Value::Array(items) => Value::Array(items.iter().map(|v| for_people(v, None)).collect()),
        Value::Object(map) => {
            let currency = map.get("currency").and_then(Value::as_str);
            let has_money = currency.is_some() && map.iter().any(|(k, v)| k.ends_with("_minor") && v.is_i64());
            let mut tidy = Map::new();
            for (k, v) in map {
                let stated_above = v.is_null() && parent.is_some_and(|p| p.get(k).is_some_and(|p| !p.is_null()));
                match (k.strip_suffix("_minor"), v.as_i64(), currency) {
                    _ if stated_above => {}
                    _ if k == "currency" && has_money => {}
                    (Some(name), Some(minor), Some(code)) => {
                        tidy.insert(name.to_string(), Value::String(money(minor, code)));
                    }
                    _ => {
                        tidy.insert(k.clone(), for_people(v, Some(map)));
                    }
                }
            }
            Value::Object(tidy)
        }
        other => other.clone(),
    }
}

/// `4900, "USD"` → `49.00 USD`; the decimals are the currency's (ISO 4217 minor units).
pub fn money(minor: i64, currency: &str) -> String {
    let code = printable(currency);
    let decimals = match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX" | "UYI" | "VND"
        | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        "CLF" | "UYW" => 4,
        _ => 2,
    };
    let sign = if minor < 0 { "-" } else { "" };
    let units = minor.unsigned_abs();
    let scale = 10u64.pow(decimals);
    let whole = grouped(units / scale);
    if decimals == 0 {
        return format!("{sign}{whole} {code}");
    }
    let fraction = units % scale;
    format!("{sign}{whole}.{fraction:0width$} {code}", width = decimals as usize)
}

/// `1234567` → `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn block(out: &mut String, value: &Value, title: Option<&str>) {
    if let Some(t) = title {
        out.push_str(&format!("\n{}\n", printable(t)));
    }
    match value {
        Value::Array(items) => table(out, items),
        Value::Object(map) => {
            let width = map.keys().map(String::len).max().unwrap_or(0);
            let mut nested = Vec::new();
            for (k, v) in map {
                match v {
                    Value::Object(_) => nested.push((k, v)),
                    Value::Array(items) if items.iter().any(Value::is_object) || items.is_empty() && is_list_key(k) => {
                        nested.push((k, v))
                    }
                    _ => out.push_str(&format!("{:<width$}  {}\n", printable(k), cell(v))),
                }
            }
            for (k, v) in nested {
                block(out, v, Some(k));
            }
        }
        other => out.push_str(&format!("{}\n", cell(other))),
    }
}

/// Arrays that hold records even when empty (so "(none)" shows instead of an empty cell).
fn is_list_key(k: &str) -> bool {
    matches!(k, "keys" | "mismatches" | "entries")
}

fn table(out: &mut String, items: &[Value]) {
    if items.is_empty() {
        out.push_str("(none)\n");
        return;
    }
    if !items.iter().all(Value::is_object) {
        for item in items {
            out.push_str(&format!("{}\n", cell(item)));
        }
        return;
    }
    let columns: Vec<&String> = items[0].as_object().map(|m| m.keys().collect()).unwrap_or_default();
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| columns.iter().map(|c| cell(item.get(c.as_str()).unwrap_or(&Value::Null))).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| rows.iter().map(|r| r[i].chars().count()).chain([c.len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    out.push_str(&line(columns.iter().map(|c| printable(&c.to_uppercase()).into_owned()).collect()));
    for row in rows {
        out.push_str(&line(row));
    }
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => timestamp(s).or_else(|| pem(s)).unwrap_or_else(|| printable(s).into_owned()),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        Value::Object(_) => printable(&value.to_string()).into_owned(),
        other => other.to_string(),
    }
}

/// Text as a terminal may show it: control characters (escape sequences, carriage returns,
/// bidi overrides; see [`is_control_char`]) written as Rust escapes (`\n`, `\u{1b}`), so
/// stored text from before they were refused cannot rewrite the screen or shift a column.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_control_char) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars().map(|c| if is_control_char(c) { c.escape_default().to_string() } else { c.to_string() }).collect(),
    )
}

/// A PEM bundle (a route's private CA) as a count, not 25 lines of base64 in a cell; the
/// JSON output keeps it whole.
fn pem(s: &str) -> Option<String> {
    s.starts_with("-----BEGIN ").then(|| {
        let n = s.matches("-----BEGIN CERTIFICATE-----").count();
        format!("PEM, {n} certificate{}", if n == 1 { "" } else { "s" })
    })
}

/// `2026-11-24T10:15:30.123456Z` → `2026-11-24 10:15:30`: seconds are enough on a terminal.
fn timestamp(s: &str) -> Option<String> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    Some(t.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M:%S").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_become_aligned_tables() {
        let text = human(&json!([{"slug": "acme", "balance": 5000}, {"slug": "globex-inc", "balance": 7}]));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "SLUG        BALANCE", "the header names the columns in field order");
        assert_eq!(lines[1], "acme        5000", "cells are padded to the widest value");
        assert_eq!(lines.len(), 3, "one line per row plus the header");
    }

    #[test]
    fn objects_become_blocks_with_nested_sections() {
        let text = human(&json!({"secret": "tg_live_x", "key": {"prefix": "tg_live_ab"}, "keys": []}));
        assert!(text.starts_with("secret  tg_live_x\n"), "scalars come first: {text}");
        assert!(text.contains("\nkey\nprefix  tg_live_ab\n"), "nested objects get a titled block: {text}");
        assert!(text.contains("\nkeys\n(none)\n"), "empty record lists say so: {text}");
    }

    #[test]
    fn control_characters_are_shown_escaped() {
        let text = human(&json!([{"name": "Acme\u{1b}[2J\rX", "note": "a\u{202e}b"}]));
        assert!(!text.chars().any(|c| c != '\n' && is_control_char(c)), "nothing raw reaches the terminal: {text:?}");
        assert!(text.contains("Acme\\u{1b}[2J\\rX"), "escapes show what was stored: {text}");
        assert!(text.contains("a\\u{202e}b"), "bidi overrides too: {text}");
        let block = human(&json!({"reason": "line\nbreak", "nested": {"k\u{7}": "v"}}));
        assert!(block.contains("reason  line\\nbreak\n"), "in key/value blocks: {block}");
        assert!(!block.contains('\u{7}'), "keys too: {block:?}");
        assert_eq!(printable("Ümlaut GmbH"), "Ümlaut GmbH", "other text is untouched");
    }

    #[test]
    fn money_is_printed_as_money() {
        assert_eq!(money(4900, "USD"), "49.00 USD");
        assert_eq!(money(5, "EUR"), "0.05 EUR", "cents keep their leading zero");
        assert_eq!(money(0, "USD"), "0.00 USD");
        assert_eq!(money(123_456_789, "USD"), "1,234,567.89 USD", "thousands are grouped");
        assert_eq!(money(-250, "GBP"), "-2.50 GBP");
        assert_eq!(money(4900, "JPY"), "4,900 JPY", "yen have no minor unit");
        assert_eq!(money(1500, "KWD"), "1.500 KWD", "dinars have three decimals");
        assert_eq!(money(i64::MIN, "USD"), "-92,233,720,368,547,758.08 USD", "no overflow at the extremes");
    }

    #[test]
    fn plans_show_their_price_not_minor_units() {
        let plans = json!([
            {"slug": "pro", "price_minor": 4900, "currency": "USD", "credits_per_period": 10000},
            {"slug": "yen", "price_minor": 500, "currency": "JPY", "credits_per_period": 5}
        ]);
        let text = human(&plans);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["SLUG", "PRICE", "CREDITS_PER_PERIOD"]);
        assert!(lines[1].contains("49.00 USD") && lines[2].contains("500 JPY"), "{text}");
        assert!(!text.contains("4900"), "no minor units: {text}");
        let block = human(&json!({"plan": {"name": "Pro", "price_minor": 4900, "currency": "USD"}}));
        assert!(block.contains("price  49.00 USD\n"), "in blocks too: {block}");
        let no_currency = human(&json!({"price_minor": 4900}));
        assert!(no_currency.contains("price_minor  4900"), "without a currency it stays a number: {no_currency}");
    }

    #[test]
    fn one_billing_link_is_shown() {
        let created = json!({
            "tenant": {"slug": "acme", "billing_link": null},
            "billing_link": "https://billing.acme-api.com/acme"
        });
        let text = human(&created);
        assert_eq!(text.matches("billing_link").count(), 1, "the link customers get, once: {text}");
        assert!(text.contains("billing_link  https://billing.acme-api.com/acme"), "{text}");
        let own =
            human(&json!({"tenant": {"billing_link": "https://pay.acme.io"}, "billing_link": "https://pay.acme.io"}));
        assert_eq!(own.matches("https://pay.acme.io").count(), 2, "a value that is set is never hidden: {own}");
    }

    #[test]
    fn pem_bundles_are_counted_not_printed() {
        let one = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
        let out = human(&json!([{ "id": 1, "upstream_ca": format!("{one}\n{one}") }]));
        assert!(out.contains("PEM, 2 certificates") && !out.contains("MIIB"), "{out}");
    }

    #[test]
    fn timestamps_are_shortened() {
        assert_eq!(cell(&json!("2026-11-24T10:15:30.123456+00:00")), "2026-11-24 10:15:30", "seconds precision, UTC");
        assert_eq!(cell(&json!(null)), "-", "missing values show a dash");
    }
}
