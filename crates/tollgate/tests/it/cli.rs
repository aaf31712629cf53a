//! The CLI without a server: it opens the database itself.

use crate::process::{fails, json, run};

fn setup(dir: &std::path::Path) {
    json(dir, &["plan", "create", "--name", "Pro", "--credits", "1000", "--features", "search"]);
}

#[test]
fn create_a_tenant_issue_a_key_and_top_up() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let tenant = json(d, &["tenant", "create", "--name", "acme", "--plan", "pro", "--email", "ops@acme.io"]);
    assert_eq!(tenant["tenant"]["slug"], "acme", "tenant created from flags");
    assert_eq!(tenant["tenant"]["balance"], 1000, "with the plan's credits");
    let key = json(d, &["key", "issue", "--tenant", "acme", "--scopes", "read,write"]);
    assert!(key["secret"].as_str().unwrap().starts_with("tg_live_"), "the secret is printed once");
    assert_eq!(key["key"]["scopes"], serde_json::json!(["read", "write"]), "comma-separated scopes");
    let topup = json(d, &["credits", "topup", "--tenant", "acme", "--amount", "5000", "--idempotency-key", "inv-1"]);
    assert_eq!(topup["balance"], 6000, "credits added");
    let again = json(d, &["credits", "topup", "--tenant", "acme", "--amount", "5000", "--idempotency-key", "inv-1"]);
    assert_eq!(
        (again["balance"].as_i64(), again["replayed"].as_bool()),
        (Some(6000), Some(true)),
        "the same key tops up once"
    );

    let table = run(d, &["tenant", "list"]);
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.starts_with("SLUG"), "a readable table by default:\n{text}");
    assert!(
        text.lines().nth(1).is_some_and(|l| l.starts_with("acme") && l.contains("6000")),
        "one row per tenant:\n{text}"
    );
    let human_key = run(d, &["key", "issue", "--tenant", "acme"]);
    assert!(
        String::from_utf8_lossy(&human_key.stderr).contains("cannot show it again"),
        "the CLI warns the secret is shown once"
    );

    let verify = run(d, &["verify"]);
    assert!(verify.status.success(), "verify passes");
    let said = String::from_utf8_lossy(&verify.stdout).into_owned();
    assert!(said.lines().any(|l| l.split_whitespace().eq(["ok", "true"])), "and says so:\n{said}");
}

/// What the operator can observe of the data: if these are equal, nothing changed.
fn observable(d: &std::path::Path) -> String {
    [
        json(d, &["audit", "list", "--limit", "1000"]),
        json(d, &["ledger", "list", "--tenant", "acme"]),
        json(d, &["tenant", "list"]),
        json(d, &["plan", "list", "--include-archived"]),
        json(d, &["key", "list", "--tenant", "acme"]),
    ]
    .iter()
    .map(|v| v.to_string())
    .collect::<Vec<_>>()
    .join("\n")
}

#[test]
fn bad_input_exits_non_zero_names_the_problem_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    json(d, &["plan", "create", "--name", "Old"]);
    json(d, &["plan", "archive", "--plan", "old"]);
    json(d, &["tenant", "create", "--name", "acme", "--plan", "pro"]);
    let before = observable(d);
    let cases: &[(&[&str], &str)] = &[
        (
            &["credits", "topup", "--tenant", "ghost", "--amount", "5", "--idempotency-key", "a"],
            "tenant 'ghost' not found",
        ),
        (
            &["credits", "topup", "--tenant", "acme", "--amount", "-5", "--idempotency-key", "a"],
            "amount: must be positive",
        ),
        (
            &["credits", "topup", "--tenant", "acme", "--amount", "0", "--idempotency-key", "a"],
            "amount: must be positive",
        ),
        (
            &["credits", "topup", "--tenant", "acme", "--amount", "99999999999999999999", "--idempotency-key", "a"],
            "--amount",
        ),
        (
            &["credits", "topup", "--tenant", "acme", "--amount", "9223372036854775807", "--idempotency-key", "a"],
            "too large",
        ),
        (&["tenant", "create", "--name", "acme", "--plan", "pro"], "slug 'acme' already exists"),
        (&["key", "issue", "--tenant", "acme", "--expires-at", "2027-13-45"], "--expires-at"),
        (&["tenant", "create", "--name", "newco", "--plan", "gold"], "plan 'gold' not found"),
        (&["tenant", "create", "--name", "newco", "--plan", "old"], "plan 'old' is archived"),
        (&["plan", "create", "--name", "Cheap", "--currency", "DOLLARS"], "currency"),
    ];
    for (args, expected) in cases {
        let stderr = fails(d, args);
        assert!(stderr.contains(expected), "`{}` should say '{expected}', said: {stderr}", args.join(" "));
    }
    assert_eq!(observable(d), before, "no refused command changed anything");
}

#[test]
fn parallel_cli_commands_take_turns_on_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    setup(&d);
    json(&d, &["tenant", "create", "--name", "acme", "--plan", "pro"]);
    let workers: Vec<_> = (0..6)
        .map(|i| {
            let d = d.clone();
            std::thread::spawn(move || {
                let key = format!("parallel-{i}");
                run(&d, &["credits", "topup", "--tenant", "acme", "--amount", "10", "--idempotency-key", &key])
            })
        })
        .collect();
    for w in workers {
        let out = w.join().unwrap();
        assert!(out.status.success(), "a concurrent command waits its turn: {}", String::from_utf8_lossy(&out.stderr));
    }
    let shown = json(&d, &["tenant", "show", "--tenant", "acme"]);
    assert_eq!(shown["tenant"]["balance"], 1060, "every parallel top-up landed once");
}

#[test]
fn import_reads_a_csv_file_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let good = d.join("tenants.csv");
    std::fs::write(
        &good,
        "slug,name,plan,credits,key\nacme,Acme,pro,50,sk_test_abcdefghijklmnop0123\nglobex,Globex,pro,,\n",
    )
    .unwrap();
    let report = json(d, &["import", good.to_str().unwrap()]);
    assert_eq!((report["tenants"].as_i64(), report["keys"].as_i64()), (Some(2), Some(1)), "both tenants and the key");
    let bad = d.join("more.csv");
    std::fs::write(&bad, "slug,name,plan\ninitech,Initech,pro\numbrella,Umbrella,gold\n").unwrap();
    let preview = json(d, &["import", bad.to_str().unwrap(), "--dry-run"]);
    assert_eq!(preview["dry_run"], true);
    assert_eq!(preview["bad_lines"], 1, "the dry run names the bad line: {preview}");
    assert_eq!(preview["errors"][0]["line"], 3, "by number: {preview}");
    assert_eq!(preview["rows"][0]["slug"], "initech", "and shows what would be created: {preview}");
    assert_eq!(json(d, &["tenant", "list"]).as_array().unwrap().len(), 2, "a dry run creates nothing");
    let err = fails(d, &["import", bad.to_str().unwrap()]);
    assert!(err.contains("line 3"), "the bad line is named: {err}");
    assert_eq!(json(d, &["tenant", "list"]).as_array().unwrap().len(), 2, "and nothing from that file was imported");
    let wrong = d.join("tenants.txt");
    std::fs::write(&wrong, "x").unwrap();
    assert!(fails(d, &["import", wrong.to_str().unwrap()]).contains(".csv or .jsonl"), "the format must be known");
}

#[test]
fn settings_help_tells_how_long_batched_charges_wait() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["settings", "set", "--help"]);
    let help = String::from_utf8(out.stdout).unwrap();
    // Batched usage is written every `usage_flush_ms` (settlement.rs), as the README says.
    assert!(
        help.contains("written every `usage_flush_ms` (default 2000 ms"),
        "batched durability's window is stated:\n{help}"
    );
    assert!(help.contains("--usage-flush-ms"), "and can be set:\n{help}");
    assert!(!help.contains("10 ms"), "and no other figure:\n{help}");
}

#[test]
fn explain_prints_what_the_gateway_answers_one_line_per_route() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    json(d, &["tenant", "create", "--name", "acme", "--plan", "pro"]);
    json(d, &["key", "issue", "--tenant", "acme"]);
    json(d, &["route", "create", "--path", "/v1", "--upstream", "http://127.0.0.1:9", "--cost", "1"]);
    json(d, &["route", "create", "--path", "/v1/search", "--upstream", "http://127.0.0.1:9", "--feature", "search"]);
    json(d, &["tenant", "suspend", "--tenant", "acme"]);
    let out = run(d, &["explain", "--tenant", "acme"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "explain is a top-level word: {}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("ACCOUNT_SUSPENDED_NONPAYMENT")).collect();
    assert!(text.contains("every call gets 402 ACCOUNT_SUSPENDED_NONPAYMENT"), "the verdict in words:\n{text}");
    assert!(
        lines.iter().filter(|l| l.starts_with("/v1")).count() == 2,
        "one line per route, each with its answer:\n{text}"
    );
    let one = json(d, &["explain", "--tenant", "acme", "--route", "/v1/search"]);
    assert_eq!(one["routes"].as_array().map(Vec::len), Some(1), "--route narrows it to one: {one}");
    assert_eq!(one["routes"][0]["fix"], "resume", "with the fix");
    json(d, &["tenant", "resume", "--tenant", "acme"]);
    let served = json(d, &["explain", "--tenant", "acme", "--route", "/v1/search"]);
    assert_eq!(served["routes"][0]["status"], 200, "resumed, with the feature and credits: served: {served}");
    let err = fails(d, &["explain", "--tenant", "acme", "--route", "/nowhere"]);
    assert!(err.contains("route") && err.contains("/nowhere"), "an unmatched route is named: {err}");
}

#[test]
fn the_audit_log_names_the_os_user_who_ran_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let user = |name: Option<&str>, args: &[&str]| {
        let mut cmd = crate::process::binary();
        cmd.env_remove("USER").env_remove("LOGNAME");
        if let Some(name) = name {
            cmd.env("USER", name);
        }
        let out = cmd.arg("--data-dir").arg(d).args(args).output().expect("tollgate runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    user(Some("alice"), &["plan", "create", "--name", "Pro"]);
    // Without USER and LOGNAME (cron, systemd, some containers) the account database names them.
    user(None, &["plan", "create", "--name", "Team"]);
    let log = json(d, &["audit", "list"]);
    let actors: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["actor"].as_str().unwrap()).collect();
    let id = std::process::Command::new("id").arg("-un").output().unwrap();
    let me = format!("cli:{}", String::from_utf8_lossy(&id.stdout).trim());
    assert_eq!(actors, [me.as_str(), "cli:alice"], "who ran each command, never cli:unknown");
}

#[test]
fn a_refused_command_is_not_reported_as_failing_storage() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    // The abandoned write probes storage as the CLI closes its pool: a closed pool is the
    // process ending, not a disk refusing writes, so the operator sees only the refusal.
    for _ in 0..3 {
        let err = fails(d, &["tenant", "create", "--name", "acme", "--plan", "nope"]);
        assert!(err.contains("plan 'nope' not found"), "the refusal: {err}");
        assert!(!err.contains("STORAGE IS FAILING"), "a refused input is not a failing disk: {err}");
    }
}

#[test]
fn an_https_route_takes_its_private_ca_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    let (ca, key_file) = (d.join("ca.pem"), d.join("ca.key"));
    std::fs::write(&ca, &pem).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    let create = |file: &std::path::Path| {
        let file = file.display().to_string();
        ["route", "create", "--path", "/secure", "--upstream", "https://api.internal:8443", "--upstream-ca", &file]
            .map(String::from)
    };
    let missing = create(&d.join("missing.pem"));
    let err = fails(d, &missing.each_ref().map(String::as_str));
    assert!(err.contains("cannot read") && err.contains("missing.pem"), "the file is named: {err}");
    let err = fails(d, &create(&key_file).each_ref().map(String::as_str));
    assert!(err.contains("upstream_ca") && err.contains("not a key"), "a key is not a CA: {err}");

    let route = json(d, &create(&ca).each_ref().map(String::as_str));
    assert_eq!(route["upstream_ca"], pem.trim(), "the file's text is stored: {route}");
    let out = run(d, &["route", "list"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("PEM, 1 certificate") && !text.contains("BEGIN"), "the table counts it:\n{text}");
}

#[test]
fn ip_rules_and_trusted_proxies_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let created = json(
        d,
        &[
            "tenant",
            "create",
            "--name",
            "acme",
            "--plan",
            "pro",
            "--ip-allow",
            "10.0.0.0/8,2001:db8::/32",
            "--ip-deny",
            "10.0.0.5",
        ],
    );
    let t = &created["tenant"];
    assert_eq!(t["ip_allow"], serde_json::json!(["10.0.0.0/8", "2001:db8::/32"]), "comma-separated blocks");
    assert_eq!(t["ip_deny"], serde_json::json!(["10.0.0.5/32"]), "a bare address is one host");
    let shown = String::from_utf8(run(d, &["tenant", "show", "--tenant", "acme"]).stdout).unwrap();
    assert!(shown.lines().any(|l| l.starts_with("ip_allow") && l.contains("10.0.0.0/8")), "tenant show:\n{shown}");

    let route = json(
        d,
        &["route", "create", "--path", "/v1", "--upstream", "http://127.0.0.1:9", "--ip-deny", "192.168.0.0/16"],
    );
    let id = route["id"].to_string();
    let listed = String::from_utf8(run(d, &["route", "list"]).stdout).unwrap();
    assert!(listed.contains("IP_DENY") && listed.contains("192.168.0.0/16"), "route list:\n{listed}");

    let proxies = json(d, &["settings", "set", "--trusted-proxies", "10.0.0.0/8,192.168.1.7"]);
    assert_eq!(proxies["trusted_proxies"], serde_json::json!(["10.0.0.0/8", "192.168.1.7/32"]));

    let before =
        [json(d, &["tenant", "show", "--tenant", "acme"]), json(d, &["route", "list"]), json(d, &["settings", "get"])];
    let cases: &[(&[&str], &str)] = &[
        (
            &["tenant", "update", "--tenant", "acme", "--ip-allow", "10.0.0.0/8,10.0.0.0/33"],
            "ip_allow: '10.0.0.0/33' has a prefix longer than 32",
        ),
        (
            &["tenant", "update", "--tenant", "acme", "--ip-deny", "example.com"],
            "ip_deny: 'example.com' is not an IP address or CIDR block",
        ),
        (
            &["route", "update", "--id", &id, "--ip-allow", "10.0.0.1/8"],
            "ip_allow: '10.0.0.1/8' has host bits set; the block is 10.0.0.0/8",
        ),
        (&["settings", "set", "--trusted-proxies", "10.0.0.0/8,nope"], "trusted_proxies: 'nope'"),
    ];
    for (args, expected) in cases {
        let stderr = fails(d, args);
        assert!(stderr.contains(expected), "`{}` should say '{expected}', said: {stderr}", args.join(" "));
    }
    let after =
        [json(d, &["tenant", "show", "--tenant", "acme"]), json(d, &["route", "list"]), json(d, &["settings", "get"])];
    assert_eq!(after, before, "a refused list changes nothing");

    let cleared = json(d, &["tenant", "update", "--tenant", "acme", "--ip-allow", ""]);
    assert_eq!(
        (cleared["ip_allow"].clone(), cleared["ip_deny"].clone()),
        (serde_json::json!([]), serde_json::json!(["10.0.0.5/32"])),
        "empty clears one list"
    );
}
