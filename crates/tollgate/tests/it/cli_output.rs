//! The CLI as a person meets it: its help, and what happens when its reader goes away.

use std::process::{Command, Stdio};

use crate::process::{json, run};

fn tollgate(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    cmd.env_remove("TOLLGATE_DATA_DIR").env("TOLLGATE_LOG", "error").arg("--data-dir").arg(dir);
    cmd
}

/// `tollgate denial list | head -1` where head has already gone: stdout is a pipe whose
/// read end is closed before the command starts, so its first write fails.
#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    json(d, &["plan", "create", "--name", "Pro", "--credits", "10"]);
    json(d, &["tenant", "create", "--name", "acme", "--plan", "pro"]);
    for args in [
        &["denial", "list"][..],
        &["tenant", "list"],
        &["tenant", "show", "acme"],
        &["plan", "list", "--json"],
        &["verify"],
        &["--help"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = tollgate(d).args(args).stdout(writer).stderr(Stdio::piped()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "`{args:?}` must not panic: {stderr}");
        assert!(stderr.trim().is_empty(), "`{args:?}` ends quietly: {stderr}");
        assert_eq!(out.status.code(), Some(0), "`{args:?}` exits 0 when nobody reads its output");
    }
}

fn help(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), args);
    assert!(out.status.success(), "`{args:?}` prints help");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn help_says_what_each_group_and_flag_is_for() {
    let top = help(&["--help"]);
    assert!(!top.contains(" commands\n"), "no group is just 'x commands':\n{top}");
    assert!(top.contains("Move prepaid credits"), "groups have real help lines:\n{top}");
    let serve = help(&["serve", "--help"]);
    assert!(serve.lines().next().unwrap().contains("gateway"), "serve says it runs the gateway:\n{serve}");
    let show = help(&["tenant", "show", "--help"]);
    assert!(show.contains("tollgate tenant show <TENANT>"), "the subject may come first:\n{show}");
    assert!(show.contains("--tenant <TENANT>  The tenant's slug"), "every flag says what it is:\n{show}");
    let issue = help(&["key", "issue", "--help"]);
    assert!(issue.contains("+30d"), "times say their formats:\n{issue}");
}

#[test]
fn the_subject_comes_first_and_bad_values_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    json(d, &["plan", "create", "--name", "Pro", "--price", "4900", "--credits", "10"]);
    json(d, &["tenant", "create", "--name", "Acme Corp", "--plan", "pro"]);
    assert_eq!(json(d, &["tenant", "show", "acme-corp"]), json(d, &["tenant", "show", "--tenant", "acme-corp"]));

    let rate = run(d, &["plan", "create", "--name", "Bad", "--rate", "-1"]);
    let said = String::from_utf8_lossy(&rate.stderr);
    assert!(!rate.status.success() && said.contains("rate_per_second: must be 1-1000000"), "{said}");
    assert!(said.contains("given as --rate"), "and the flag it came from: {said}");
    let expiry = run(d, &["key", "issue", "acme-corp", "--expires-at", "tomorrow"]);
    let said = String::from_utf8_lossy(&expiry.stderr);
    assert!(!expiry.status.success() && said.contains("--expires-at") && said.contains("2027-01-31"), "{said}");
    let key = json(d, &["key", "issue", "acme-corp", "--expires-at", "+30d"]);
    assert!(key["key"]["expires_at"].is_string(), "an offset from now is a time: {key}");

    let created = run(d, &["tenant", "create", "--name", "Globex", "--plan", "pro"]);
    let text = String::from_utf8(created.stdout).unwrap();
    assert_eq!(text.matches("billing_link").count(), 1, "one billing link, the one customers get:\n{text}");
    assert!(text.contains("https://billing.example.com/globex"), "{text}");
    assert!(text.contains("price               49.00 USD"), "money as money:\n{text}");
}
