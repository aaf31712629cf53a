//! TypeScript declarations for the dashboard, generated from the same OpenAPI document the
//! admin API serves, so the UI's types cannot drift from the Rust ones: a test compares
//! them with the committed `ui/src/lib/backend/types.gen.ts`.

use std::fmt::Write;

use serde_json::{Map, Value};
use tollgate_core::console::command::{self, Command, CommandVisitor};
use tollgate_core::live::events::GatewayEvent;
use utoipa::{PartialSchema, ToSchema};

/// Where the declarations live, relative to the repository root.
pub const TYPES_PATH: &str = "ui/src/lib/backend/types.gen.ts";

struct CommandTypes(Vec<(&'static str, String, String)>);

impl CommandVisitor for CommandTypes {
    fn visit<C: Command>(&mut self) {
        self.0.push((C::NAME, C::name().into_owned(), C::Output::name().into_owned()));
    }
}

/// The whole `types.gen.ts`: one declaration per schema, the event union, and the map from
/// command name to its input and output types that the UI's typed `call` is built on.
pub fn declarations() -> String {
    let document = serde_json::to_value(super::openapi::build()).expect("the OpenAPI document serializes");
    let mut schemas: Map<String, Value> =
        document.pointer("/components/schemas").and_then(Value::as_object).cloned().unwrap_or_default();
    schemas.insert(
        GatewayEvent::name().into_owned(),
        serde_json::to_value(GatewayEvent::schema()).expect("schemas serialize"),
    );
    let mut names: Vec<&String> = schemas.keys().collect();
    names.sort();

    let mut out = String::from(
        "// Generated from the Rust types by `make types` (crates/tollgate/src/admin/typescript.rs).\n\
         // Do not edit: a test fails when this file and the Rust types disagree.\n",
    );
    for name in names {
        let schema = &schemas[name];
        out.push('\n');
        doc_comment(&mut out, schema, "");
        match schema.get("properties").and_then(Value::as_object) {
            Some(properties) if schema.get("type") == Some(&Value::from("object")) => {
                let _ = writeln!(out, "export interface {name} {}", object(properties, schema, ""));
            }
            _ => {
                let _ = writeln!(out, "export type {name} = {};", ts_type(schema, ""));
            }
        }
    }
    out.push_str(
        "\n/** Everything the event stream carries: gateway decisions and console changes. */\n\
         export type Event = ({ type: 'gateway' } & GatewayEvent) | ({ type: 'console' } & AuditEntry) | ({ type: 'storage' } & StorageStatus);\n",
    );
    let mut commands = CommandTypes(Vec::new());
    command::visit_all(&mut commands);
    out.push_str("\n/** Every console command: its input and output types, by name. */\nexport interface Commands {\n");
    for (name, input, output) in &commands.0 {
        let _ = writeln!(out, "  '{name}': {{ input: {input}; output: {output} }};");
    }
    out.push_str("}\n");
    out
}

fn doc_comment(out: &mut String, schema: &Value, indent: &str) {
    if let Some(text) = schema.get("description").and_then(Value::as_str) {
        let text = text.replace("*/", "* /");
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() == 1 {
            let _ = writeln!(out, "{indent}/** {} */", lines[0]);
        } else {
            let _ = writeln!(out, "{indent}/**");
            for line in lines {
                let _ = writeln!(out, "{}", format!("{indent} * {line}").trim_end());
            }
            let _ = writeln!(out, "{indent} */");
        }
    }
}

fn object(properties: &Map<String, Value>, schema: &Value, indent: &str) -> String {
    let required: Vec<&str> =
        schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let inner = format!("{indent}  ");
    let mut out = String::from("{\n");
    for (field, property) in properties {
        doc_comment(&mut out, property, &inner);
        let optional = if required.contains(&field.as_str()) { "" } else { "?" };
        let _ = writeln!(out, "{inner}{field}{optional}: {};", ts_type(property, &inner));
    }
    out.push_str(indent);
    out.push('}');
    out
}

/// The TypeScript type of a JSON schema, as utoipa writes them.
fn ts_type(schema: &Value, indent: &str) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return reference.rsplit('/').next().unwrap_or("unknown").to_string();
    }
    for (key, joiner) in [("oneOf", " | "), ("anyOf", " | "), ("allOf", " & ")] {
        if let Some(parts) = schema.get(key).and_then(Value::as_array) {
            return parts.iter().map(|p| ts_type(p, indent)).collect::<Vec<_>>().join(joiner);
        }
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values.iter().map(|v| v.to_string().replace('"', "'")).collect::<Vec<_>>().join(" | ");
    }
    match schema.get("type") {
        Some(Value::Array(types)) => types
            .iter()
            .map(|t| {
                let mut single = schema.clone();
                single["type"] = t.clone();
                ts_type(&single, indent)
            })
            .collect::<Vec<_>>()
            .join(" | "),
        Some(Value::String(t)) => match t.as_str() {
            "string" => "string".into(),
            "integer" | "number" => "number".into(),
            "boolean" => "boolean".into(),
            "null" => "null".into(),
            "array" => {
                let item = schema.get("items").map_or_else(|| "unknown".into(), |i| ts_type(i, indent));
                if item.contains(' ') { format!("Array<{item}>") } else { format!("{item}[]") }
            }
            "object" => match (schema.get("properties").and_then(Value::as_object), schema.get("additionalProperties"))
            {
                (Some(properties), _) => object(properties, schema, indent),
                (None, Some(values @ Value::Object(_))) => format!("Record<string, {}>", ts_type(values, indent)),
                _ => "Record<string, unknown>".into(),
            },
            _ => "unknown".into(),
        },
        _ => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_become_typescript() {
        let schema = serde_json::json!({
            "type": "object",
            "required": ["id", "tags"],
            "properties": {
                "id": {"type": "integer", "format": "int64"},
                "note": {"type": ["string", "null"], "description": "Why."},
                "tags": {"type": "array", "items": {"type": "string"}},
                "kind": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Kind"}]},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "facts": {"type": ["object", "null"]}
            }
        });
        let ts = ts_type(&schema, "");
        for expected in [
            "id: number;",
            "/** Why. */\n  note?: string | null;",
            "tags: string[];",
            "kind?: null | Kind;",
            "mode?: 'a' | 'b';",
            "facts?: Record<string, unknown> | null;",
        ] {
            assert!(ts.contains(expected), "{expected:?} in:\n{ts}");
        }
    }

    #[test]
    fn every_command_is_in_the_map() {
        let ts = declarations();
        for name in command::COMMAND_NAMES {
            assert!(ts.contains(&format!("  '{name}': {{ input: ")), "{name} is in Commands");
        }
        assert!(ts.contains("export interface GatewayEvent {"), "events are typed too");
        assert!(!ts.replace("Record<string, unknown>", "").contains("unknown"), "every member has a real type:\n{ts}");
    }

    /// Fails when the committed declarations differ from the Rust types; with
    /// `TOLLGATE_WRITE_TYPES=1` (`make types`) it rewrites them instead.
    #[test]
    fn committed_typescript_matches_the_rust_types() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(TYPES_PATH);
        let generated = declarations();
        if std::env::var_os("TOLLGATE_WRITE_TYPES").is_some() {
            std::fs::write(&path, &generated).expect("types.gen.ts is writable");
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{TYPES_PATH} is out of date with the Rust types: run `make types` and commit the result"
        );
    }
}
