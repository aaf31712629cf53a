use std::collections::HashSet;

use serde_json::json;
use tollgate_core::console::command::{COMMAND_NAMES, Command, CommandVisitor, dispatch_json, visit_all};

use crate::common::{at, world};

#[test]
fn every_command_has_a_unique_name_and_a_summary() {
    struct Names(Vec<(&'static str, &'static str)>);
    impl CommandVisitor for Names {
        fn visit<C: Command>(&mut self) {
            self.0.push((C::NAME, C::SUMMARY));
        }
    }
    let mut names = Names(Vec::new());
    visit_all(&mut names);
    assert_eq!(names.0.len(), COMMAND_NAMES.len(), "the visitor and the name list agree");
    let unique: HashSet<_> = names.0.iter().map(|(n, _)| n).collect();
    assert_eq!(unique.len(), names.0.len(), "names are unique");
    assert!(names.0.iter().all(|(_, s)| !s.is_empty()), "every command has a summary");
    assert!(COMMAND_NAMES.len() >= 30, "all console commands are declared, got {}", COMMAND_NAMES.len());
}

#[tokio::test]
async fn json_dispatch_runs_commands_and_names_bad_fields() {
    let w = world().await;
    let plan = dispatch_json(&w.console, &at(0), "plan.create", json!({"name": "Pro", "credits_per_period": 10}))
        .await
        .unwrap();
    assert_eq!(plan["slug"], "pro", "the command ran and returned its output");

    let missing = dispatch_json(&w.console, &at(0), "tenant.create", json!({"name": "acme"})).await.unwrap_err();
    assert_eq!(missing.body().field.as_deref(), Some("body"), "a missing field is an input error");
    assert!(missing.to_string().contains("plan"), "that names the field: {missing}");

    let wrong = dispatch_json(
        &w.console,
        &at(0),
        "credits.topup",
        json!({"tenant": "a", "amount": "lots", "idempotency_key": "k"}),
    )
    .await
    .unwrap_err();
    assert_eq!(wrong.body().field.as_deref(), Some("amount"), "a mistyped field is named: {wrong}");

    let extra = dispatch_json(&w.console, &at(0), "plan.list", json!({"bogus": 1})).await.unwrap_err();
    assert!(extra.to_string().contains("bogus"), "unknown fields are refused by name: {extra}");

    let unknown = dispatch_json(&w.console, &at(0), "plan.explode", json!({})).await.unwrap_err();
    assert_eq!(unknown.code(), "UNKNOWN_COMMAND", "unknown commands are refused");
}
