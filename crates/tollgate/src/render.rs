//! Readable output for humans: any command's JSON output as tables and key/value blocks.
//!
//! Rendering works on JSON, not on the Rust types, so every command gets a table without
//! code of its own, and the output is the same whether it came from the server or not.

use serde_json::Value;

/// Renders a command's output for a terminal.
pub fn human(value: &Value) -> String {
    let mut out = String::new();
    block(&mut out, value, None);
    out
}

fn block(out: &mut String, value: &Value, title: Option<&str>) {
    if let Some(t) = title {
        out.push_str(&format!("\n{t}\n"));
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
                    _ => out.push_str(&format!("{k:<width$}  {}\n", cell(v))),
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
    out.push_str(&line(columns.iter().map(|c| c.to_uppercase()).collect()));
    for row in rows {
        out.push_str(&line(row));
    }
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => timestamp(s).unwrap_or_else(|| s.clone()),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(","),
        Value::Object(_) => value.to_string(),
        other => other.to_string(),
    }
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
    fn timestamps_are_shortened() {
        assert_eq!(cell(&json!("2026-11-24T10:15:30.123456+00:00")), "2026-11-24 10:15:30", "seconds precision, UTC");
        assert_eq!(cell(&json!(null)), "-", "missing values show a dash");
    }
}
