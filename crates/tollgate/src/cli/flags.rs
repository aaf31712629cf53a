//! What the generated command line adds to each command's derived flags: the subject typed
//! without its flag (`tollgate tenant show acme`), help for flags and groups that the
//! input types leave bare, negative numbers that reach validation, and friendlier times.

use std::any::TypeId;
use std::ffi::OsString;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use clap::{Arg, Command as Clap};

/// Flags that name what a command acts on. When a command's first flag is one of these,
/// its value may also be given first, without the flag.
const SUBJECTS: &[&str] = &["tenant", "plan", "key", "id", "request_id"];

/// The positional argument's id; the rewrite in [`subject_as_flag`] turns its value into
/// the flag, so it only ever receives a second, conflicting value.
const POSITIONAL: &str = "subject";

/// One line of help for flags the input types leave undocumented, by flag id.
const FLAG_HELP: &[(&str, &str)] = &[
    ("tenant", "The tenant's slug, e.g. acme-corp"),
    ("plan", "The plan's slug, e.g. pro"),
    ("key", "The key's visible prefix (tg_live_…) or the whole key"),
    ("id", "The route's id, as `tollgate route list` shows it"),
    ("request_id", "The request id, e.g. req_5f3a9c1e_000000000017"),
    ("reason", "Why, for the audit log"),
    ("note", "Why, for the audit log"),
    ("name", "A display name"),
    ("slug", "The slug, e.g. acme-corp (default: from the name)"),
    ("limit", "At most this many rows"),
    ("before_id", "Only rows older than this id, to page back"),
    ("code", "Only this code, e.g. INSUFFICIENT_CREDITS"),
    ("status", "The new status"),
    ("search", "Only those whose slug, name or e-mail contains this text"),
    ("target", "Only entries about this target, e.g. tenant:acme"),
    ("format", "csv or jsonl"),
    ("idempotency_key", "Unique per movement; repeating it returns the first result"),
    ("price_minor", "Price per period in minor units: 4900 is 49.00"),
    ("currency", "ISO 4217 code, e.g. USD"),
    ("billing_period", "How often the plan renews"),
    ("credits_per_period", "Credits granted at the start of each period"),
    ("burst", "Requests allowed at once above the sustained rate"),
    ("grace_days", "Days a past-due subscription keeps working"),
    ("required_feature", "A plan feature a call needs, e.g. search"),
    ("required_scope", "A key scope a call needs, e.g. read"),
    ("path_prefix", "Path prefix the route matches, at a segment boundary, e.g. /v1/search"),
    ("methods", "HTTP methods, comma-separated"),
    ("upstream_url", "Where calls are forwarded, e.g. http://127.0.0.1:9000 or https://api.example.com"),
    ("upstream_ca", "A PEM file with the private CA an https upstream's certificate chains to"),
    ("cost", "Credits a call costs"),
    ("contact_email", "Who to reach about billing"),
    ("billing_link", "Where this tenant pays, instead of the settings' template"),
    ("data", "The file's contents"),
];

/// One line per command group, for `tollgate --help`.
const GROUP_ABOUT: &[(&str, &str)] = &[
    ("audit", "The audit log: who changed what, and when"),
    ("charge", "What a strict-durability request was charged"),
    ("cluster", "The nodes sharing this server's PostgreSQL, each one's health and lag"),
    ("credits", "Move prepaid credits: top up, adjust, refund (each movement is a ledger entry)"),
    ("denial", "Refused requests: recent denials and counts per code"),
    ("payment", "Payment-provider events (Stripe webhooks) received, and what each did"),
    ("webhook", "Webhooks out: endpoints told of balances, top-ups, keys and subscriptions, and their deliveries"),
    ("key", "API keys: issue, list, rotate and revoke"),
    ("ledger", "A tenant's credit movements, entry by entry"),
    ("overview", "The money view: revenue per plan, credits per day, top-ups, tenants at risk"),
    ("plan", "Plans: price, credits per period, features and rate limits"),
    ("request", "Find out what happened to one request, by its id"),
    ("route", "Routes: which paths the gateway forwards where, and what a call costs"),
    ("settings", "Billing link, problem types, listen addresses, durability and alerts"),
    ("storage", "Whether the database accepts writes"),
    ("subscription", "A tenant's subscription: change plan, set status, renew"),
    ("tenant", "Tenants (your customers): create, show, update, suspend, resume, block, import"),
    ("traffic", "Traffic history per window, and what the traffic and request logs kept and dropped"),
    ("usage", "Served traffic per minute, tenant and route"),
];

/// The help line of a command group: from [`GROUP_ABOUT`], else its verbs.
pub fn group_about(group: &str, subs: &[Clap]) -> String {
    match GROUP_ABOUT.iter().find(|(g, _)| *g == group) {
        Some((_, about)) => (*about).to_string(),
        None => subs.iter().map(|s| s.get_name().to_string()).collect::<Vec<_>>().join(", "),
    }
}

/// A console command's flags as the command line offers them. `words` is how it is typed
/// after `tollgate`, e.g. `tenant show`.
pub fn leaf(mut cmd: Clap, words: &str) -> Clap {
    let ids: Vec<String> = cmd.get_arguments().map(|a| a.get_id().to_string()).collect();
    for id in &ids {
        cmd = cmd.mut_arg(id, |arg| {
            let mut arg = arg;
            if arg.get_help().is_none()
                && let Some((_, help)) = FLAG_HELP.iter().find(|(f, _)| *f == id)
            {
                arg = arg.help(*help);
            }
            if arg.get_action().takes_values() {
                // `--rate -1` is a value for validation to refuse by name, not an unknown flag.
                arg = arg.allow_negative_numbers(true);
            }
            if arg.get_value_parser().type_id() == TypeId::of::<DateTime<Utc>>() {
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                arg = arg.value_parser(time).help(format!("{help}; also a date (2027-01-31) or +30d, +12h, +90m"));
            }
            arg
        });
    }
    let Some(subject) = subject(&cmd) else { return cmd };
    let long = subject.get_long().unwrap_or_default().to_string();
    let id = subject.get_id().clone();
    // clap keeps value names as `&'static str`; one short string per command, once.
    let value: &'static str = id.as_str().to_uppercase().leak();
    let required = subject.is_required_set();
    let help = subject.get_help().map(ToString::to_string).unwrap_or_default();
    let (open, close) = if required { ("<", ">") } else { ("[", "]") };
    cmd.arg(Arg::new(POSITIONAL).value_name(value).help(format!("{help} (the same as --{long})")).conflicts_with(id))
        .override_usage(format!(
            "tollgate {words} {open}{value}{close} [OPTIONS]\n       tollgate {words} --{long} <{value}> [OPTIONS]"
        ))
}

/// The flag a command's subject may be typed without: its first flag, when that is one of
/// [`SUBJECTS`].
fn subject(cmd: &Clap) -> Option<&Arg> {
    cmd.get_arguments()
        .find(|a| a.get_long().is_some() && !a.is_global_set())
        .filter(|a| SUBJECTS.contains(&a.get_id().as_str()))
}

/// Rewrites `tollgate GROUP VERB VALUE …` to `tollgate GROUP VERB --SUBJECT VALUE …` when
/// the command has a subject and VALUE is the first bare word after the verb; other
/// arguments are returned unchanged for clap to parse (and to refuse, with its messages).
pub fn subject_as_flag(root: &Clap, mut args: Vec<OsString>) -> Vec<OsString> {
    let takes_value = |cmd: &Clap, long: &str| {
        cmd.get_arguments()
            .chain(root.get_arguments().filter(|a| a.is_global_set()))
            .find(|a| a.get_long() == Some(long))
            .is_some_and(|a| a.get_action().takes_values())
    };
    let mut cmd = root;
    let mut i = 1;
    // Walk down to the leaf command: each bare word names the next subcommand.
    while cmd.has_subcommands() {
        let Some(word) = next_bare(&args, &mut i, |l| takes_value(cmd, l)) else { return args };
        match cmd.find_subcommand(word.as_os_str()) {
            Some(sub) => cmd = sub,
            None => return args,
        }
        i += 1;
    }
    let Some(subject) = subject(cmd) else { return args };
    if cmd.get_arguments().all(|a| a.get_id() != POSITIONAL) {
        return args;
    }
    let flag = OsString::from(format!("--{}", subject.get_long().unwrap_or_default()));
    if next_bare(&args, &mut i, |l| takes_value(cmd, l)).is_some() {
        args.insert(i, flag);
    }
    args
}

/// Advances `i` to the next argument that is neither a flag nor a flag's value, and
/// returns it; `None` at the end or at `--`.
fn next_bare(args: &[OsString], i: &mut usize, takes_value: impl Fn(&str) -> bool) -> Option<OsString> {
    while let Some(arg) = args.get(*i) {
        match arg.to_str() {
            Some("--") => return None,
            Some(flag) if flag.starts_with("--") => {
                let long = &flag[2..];
                *i += if !long.contains('=') && takes_value(long) { 2 } else { 1 };
            }
            Some(short) if short.starts_with('-') && short.len() > 1 => *i += 1,
            _ => return Some(arg.clone()),
        }
    }
    None
}

/// A time on the command line: RFC 3339, a date (midnight UTC), or an offset from now.
pub fn time(s: &str) -> Result<DateTime<Utc>, String> {
    time_at(s, Utc::now())
}

fn time_at(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    let offset = s.strip_prefix('+').and_then(|rest| {
        let (n, unit) = rest.split_at(rest.len().checked_sub(1)?);
        let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
        match unit {
            "d" => TimeDelta::try_days(n),
            "h" => TimeDelta::try_hours(n),
            "m" => TimeDelta::try_minutes(n),
            _ => None,
        }
    });
    offset.and_then(|o| now.checked_add_signed(o)).ok_or_else(|| {
        "expected RFC 3339 (2027-01-31T00:00:00Z), a date (2027-01-31, midnight UTC) or a time from now (+30d, +12h, +90m)"
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(argv: &[&str]) -> Vec<String> {
        let args = argv.iter().map(OsString::from).collect();
        subject_as_flag(&super::super::build(), args).into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    #[test]
    fn the_subject_may_come_without_its_flag() {
        assert_eq!(
            rewritten(&["tollgate", "tenant", "show", "acme-corp"]),
            ["tollgate", "tenant", "show", "--tenant", "acme-corp"]
        );
        assert_eq!(
            rewritten(&["tollgate", "--data-dir", "/d", "credits", "topup", "--amount", "-5", "acme", "--json"]),
            ["tollgate", "--data-dir", "/d", "credits", "topup", "--amount", "-5", "--tenant", "acme", "--json"],
            "flags and their values before it are skipped, global ones too"
        );
        assert_eq!(
            rewritten(&["tollgate", "plan", "archive", "old"]),
            ["tollgate", "plan", "archive", "--plan", "old"]
        );
        assert_eq!(rewritten(&["tollgate", "route", "delete", "3"]), ["tollgate", "route", "delete", "--id", "3"]);
        assert_eq!(rewritten(&["tollgate", "key", "revoke", "tg_live_ab"])[3], "--key");
        assert_eq!(rewritten(&["tollgate", "charge", "show", "req_1"])[3], "--request-id");
    }

    #[test]
    fn commands_without_a_subject_are_left_alone() {
        for argv in [
            &["tollgate", "tenant", "create", "acme"][..],
            &["tollgate", "tenant", "show", "--tenant", "acme"],
            &["tollgate", "tenant", "show", "--", "acme"],
            &["tollgate", "request", "show", "req_1"],
            &["tollgate", "verify"],
            &["tollgate", "nonsense", "x"],
        ] {
            assert_eq!(rewritten(argv), argv, "{argv:?}");
        }
    }

    /// What the command line turns `argv` into: the command's name and JSON input.
    fn input(argv: &[&str]) -> Result<serde_json::Value, String> {
        let args = subject_as_flag(&super::super::build(), argv.iter().map(OsString::from).collect());
        let m = super::super::build().try_get_matches_from(args).map_err(|e| e.to_string())?;
        let (group, g) = m.subcommand().unwrap();
        let (verb, leaf) = g.subcommand().unwrap();
        let mut pick = super::super::Pick { path: (group, Some(verb)), matches: leaf, found: None };
        tollgate_core::console::command::visit_all(&mut pick);
        pick.found.unwrap().map(|(_, v)| v).map_err(|e| e.to_string())
    }

    #[test]
    fn positional_and_flag_give_the_same_input() {
        assert_eq!(
            input(&["tollgate", "tenant", "show", "acme-corp"]),
            input(&["tollgate", "tenant", "show", "--tenant", "acme-corp"])
        );
        assert_eq!(input(&["tollgate", "tenant", "show", "acme-corp"]).unwrap()["tenant"], "acme-corp");
        let both = input(&["tollgate", "tenant", "show", "acme", "--tenant", "globex"]).unwrap_err();
        assert!(both.contains("--tenant") && both.contains("cannot be used"), "two subjects are refused: {both}");
        let none = input(&["tollgate", "tenant", "show"]).unwrap_err();
        assert!(none.contains("--tenant"), "a missing subject names the flag: {none}");
    }

    #[test]
    fn negative_numbers_reach_validation() {
        let plan = input(&["tollgate", "plan", "create", "--name", "Pro", "--rate", "-1"]).unwrap();
        assert_eq!(plan["rate_per_second"], -1, "validation, not clap, refuses it by name");
    }

    #[test]
    fn times_accept_dates_and_offsets_and_say_the_format() {
        let now = "2026-12-02T10:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(time_at("2027-01-31T00:00:00+01:00", now).unwrap().to_rfc3339(), "2027-01-30T23:00:00+00:00");
        assert_eq!(time_at("2027-01-31", now).unwrap().to_rfc3339(), "2027-01-31T00:00:00+00:00");
        assert_eq!(time_at("+30d", now).unwrap().to_rfc3339(), "2027-01-01T10:00:00+00:00");
        assert_eq!(time_at("+12h", now).unwrap().to_rfc3339(), "2026-12-02T22:00:00+00:00");
        for bad in ["tomorrow", "+0d", "+5w", "+d", "-3d", ""] {
            let e = time_at(bad, now).unwrap_err();
            assert!(e.contains("2027-01-31T00:00:00Z") && e.contains("+30d"), "{bad}: {e}");
        }
        let e = input(&["tollgate", "key", "issue", "acme", "--expires-at", "tomorrow"]).unwrap_err();
        assert!(e.contains("--expires-at") && e.contains("RFC 3339"), "clap names the flag and the format: {e}");
        let v = input(&["tollgate", "key", "issue", "acme", "--expires-at", "2027-01-31"]).unwrap();
        assert_eq!(v["expires_at"], "2027-01-31T00:00:00Z");
    }

    #[test]
    fn every_flag_and_group_has_help() {
        let root = super::super::build();
        let mut bare = Vec::new();
        for group in root.get_subcommands() {
            let about = group.get_about().map(ToString::to_string).unwrap_or_default();
            assert!(!about.is_empty() && !about.ends_with(" commands"), "`{}` needs a help line", group.get_name());
            let prefix = format!("{}.", group.get_name());
            if tollgate_core::console::command::COMMAND_NAMES.iter().any(|n| n.starts_with(&prefix)) {
                assert!(
                    GROUP_ABOUT.iter().any(|(g, _)| *g == group.get_name()),
                    "`{}`: add to GROUP_ABOUT",
                    group.get_name()
                );
            }
            for cmd in group.get_subcommands().chain([group]) {
                for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
                    if arg.get_help().is_none_or(|h| h.to_string().is_empty()) {
                        bare.push(format!("{} {} --{}", group.get_name(), cmd.get_name(), arg.get_id()));
                    }
                }
            }
        }
        assert!(bare.is_empty(), "add a doc comment or a FLAG_HELP line for: {bare:#?}");
    }
}
