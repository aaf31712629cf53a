//! Readable output for humans: any command's JSON output as tables and key/value blocks.
//!
//! Rendering works on JSON, not on the Rust types, so every command gets a table without
//! code of its own, and the output is the same whether it came from the server or not.

use std::borrow::Cow;

use serde_json::Value;
use tollgate_core::validate::is_control_char;

/// Renders a command's output for a terminal.
pub fn human(value: &Value) -> String {
    let mut out = String::new();
    block(&mut out, value, None);
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
        Value::String(s) => timestamp(s).unwrap_or_else(|| printable(s).into_owned()),
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
    fn timestamps_are_shortened() {
        assert_eq!(cell(&json!("2026-11-24T10:15:30.123456+00:00")), "2026-11-24 10:15:30", "seconds precision, UTC");
        assert_eq!(cell(&json!(null)), "-", "missing values show a dash");
    }
}
