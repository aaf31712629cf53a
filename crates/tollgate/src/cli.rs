//! The command line, generated from the console commands: `tollgate GROUP VERB --flags`.
//!
//! Each command's input type is also its flag set (`clap::Args`), so a new console command
//! appears here without any code in this file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Result, anyhow};
use clap::{Arg, ArgAction, ArgMatches, Args, Command as Clap, FromArgMatches};
use tollgate_core::console::command::{self, Command, CommandVisitor};

use crate::echo::EchoArgs;
use crate::serve::ServeArgs;

mod flags;
use crate::tail::TailArgs;

/// What the user asked for.
pub enum Invocation {
    /// `tollgate serve`.
    Serve(Box<ServeArgs>),
    /// `tollgate echo`: the walkthrough's upstream.
    Echo(EchoArgs),
    /// `tollgate events tail`.
    Tail(TailArgs),
    /// `tollgate import FILE [--dry-run]`: `tenant.import` with the file's contents.
    Import { file: PathBuf, dry_run: bool },
    /// `tollgate dashboard-url`: the running server's dashboard address with the token.
    DashboardUrl,
    /// A console command: its name and JSON input.
    Console { name: &'static str, input: serde_json::Value },
}

/// Options every subcommand takes.
pub struct Globals {
    pub data_dir: Option<PathBuf>,
    pub json: bool,
}

/// Splits `group.verb` into the words typed on the command line.
fn words(name: &'static str) -> (&'static str, Option<&'static str>) {
    match name.split_once('.') {
        Some((group, verb)) => (group, Some(verb)),
        None => (name, None),
    }
}

struct Tree {
    groups: BTreeMap<&'static str, Vec<Clap>>,
    top: Vec<Clap>,
}

impl CommandVisitor for Tree {
    fn visit<C: Command>(&mut self) {
        let (group, verb) = words(C::NAME);
        match verb {
            Some(verb) => {
                let sub = flags::leaf(C::augment_args(Clap::new(verb)).about(C::SUMMARY), &format!("{group} {verb}"));
                self.groups.entry(group).or_default().push(sub);
            }
            None => self.top.push(flags::leaf(C::augment_args(Clap::new(C::NAME)).about(C::SUMMARY), C::NAME)),
        }
    }
}

/// The whole `tollgate` command tree.
pub fn build() -> Clap {
    let mut tree = Tree { groups: BTreeMap::new(), top: Vec::new() };
    command::visit_all(&mut tree);
    let mut root = Clap::new("tollgate")
        .about("Sell access to your HTTP API: tenants, plans, credits, keys and a gateway that answers 402")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommand_required(true)
        .arg_required_else_help(true)
        .arg(
            Arg::new("data-dir")
                .long("data-dir")
                .env("TOLLGATE_DATA_DIR")
                .global(true)
                .value_name("DIR")
                .value_parser(clap::value_parser!(PathBuf))
                .help("Data directory (default: the OS data directory's tollgate/)"),
        )
        .arg(Arg::new("json").long("json").global(true).action(ArgAction::SetTrue).help("Print JSON instead of tables"))
        .subcommand(
            ServeArgs::augment_args(Clap::new("serve"))
                .about("Run the gateway, the admin API and the dashboard until SIGINT/SIGTERM"),
        )
        .subcommand(
            EchoArgs::augment_args(Clap::new("echo"))
                .about("Run a test upstream that answers every request with 200 and a JSON echo of it"),
        );
    for (group, subs) in tree.groups {
        let about = flags::group_about(group, &subs);
        root = root.subcommand(Clap::new(group).about(about).subcommand_required(true).subcommands(subs));
    }
    root.subcommand(
        Clap::new("events")
            .about("Follow the gateway's decisions live")
            .subcommand_required(true)
            .subcommand(TailArgs::augment_args(Clap::new("tail")).about("Print every gateway decision as it happens")),
    )
    .subcommand(
        Clap::new("dashboard-url").about(
            "Print the running server's dashboard URL, with the admin token (serve prints it only to a terminal)",
        ),
    )
    .subcommand(
        Clap::new("import")
            .about("Import tenants and keys from a .csv or .jsonl file (all or nothing; keys are hashed)")
            .arg(
                Arg::new("file")
                    .required(true)
                    .value_parser(clap::value_parser!(PathBuf))
                    .help("A .csv or .jsonl file: one tenant per line"),
            )
            .arg(
                Arg::new("dry-run")
                    .long("dry-run")
                    .action(clap::ArgAction::SetTrue)
                    .help("Check every line and show what would be created, creating nothing"),
            ),
    )
    .subcommands(tree.top)
}

struct Pick<'a> {
    path: (&'a str, Option<&'a str>),
    matches: &'a ArgMatches,
    found: Option<Result<(&'static str, serde_json::Value)>>,
}

impl CommandVisitor for Pick<'_> {
    fn visit<C: Command>(&mut self) {
        let (group, verb) = words(C::NAME);
        if self.found.is_none() && self.path == (group, verb) {
            let input = C::from_arg_matches(self.matches)
                .map_err(|e| anyhow!(e.to_string()))
                .map(|c| (C::NAME, serde_json::to_value(c).expect("inputs serialize")));
            self.found = Some(input);
        }
    }
}

/// The flag that sets `field` of the command called `name`, when it is not simply the
/// field's name with dashes (`rate_per_second` is `--rate`), so an error can say what to type.
pub fn flag_for(name: &str, field: &str) -> Option<String> {
    let (group, verb) = words(command::COMMAND_NAMES.iter().find(|n| **n == name)?);
    let root = build();
    let mut cmd = root.find_subcommand(group)?;
    if let Some(verb) = verb {
        cmd = cmd.find_subcommand(verb)?;
    }
    let long = cmd.get_arguments().find(|a| a.get_id() == field)?.get_long()?;
    (long != field.replace('_', "-")).then(|| format!("--{long}"))
}

/// Parses the process arguments into an [`Invocation`] and the global options.
pub fn parse() -> Result<(Invocation, Globals)> {
    let cli = build();
    let args = flags::subject_as_flag(&cli, std::env::args_os().collect());
    let matches = cli.get_matches_from(args);
    let globals = Globals { data_dir: matches.get_one::<PathBuf>("data-dir").cloned(), json: matches.get_flag("json") };
    let (name, sub) = matches.subcommand().ok_or_else(|| anyhow!("no command given"))?;
    if name == "serve" {
        return Ok((Invocation::Serve(Box::new(ServeArgs::from_arg_matches(sub)?)), globals));
    }
    if name == "echo" {
        return Ok((Invocation::Echo(EchoArgs::from_arg_matches(sub)?), globals));
    }
    if name == "import" {
        let file = sub.get_one::<PathBuf>("file").cloned().ok_or_else(|| anyhow!("import needs a file"))?;
        return Ok((Invocation::Import { file, dry_run: sub.get_flag("dry-run") }, globals));
    }
    if name == "dashboard-url" {
        return Ok((Invocation::DashboardUrl, globals));
    }
    if let ("events", Some(("tail", args))) = (name, sub.subcommand()) {
        return Ok((Invocation::Tail(TailArgs::from_arg_matches(args)?), globals));
    }
    let (verb, leaf) = match sub.subcommand() {
        Some((verb, leaf)) => (Some(verb), leaf),
        None => (None, sub),
    };
    let mut pick = Pick { path: (name, verb), matches: leaf, found: None };
    command::visit_all(&mut pick);
    let (name, input) = pick.found.ok_or_else(|| anyhow!("unknown command {name}"))??;
    Ok((Invocation::Console { name, input }, globals))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_console_command_is_a_subcommand() {
        for name in command::COMMAND_NAMES {
            let (group, verb) = words(name);
            let mut argv = vec!["tollgate", group];
            argv.extend(verb);
            argv.push("--help");
            let err = build().try_get_matches_from(argv).expect_err("--help stops parsing");
            assert_eq!(
                err.kind(),
                clap::error::ErrorKind::DisplayHelp,
                "`{name}` must be reachable on the command line"
            );
        }
    }

    #[test]
    fn errors_can_name_the_flag_of_a_field() {
        assert_eq!(flag_for("plan.create", "rate_per_second").as_deref(), Some("--rate"));
        assert_eq!(flag_for("plan.create", "price_minor").as_deref(), Some("--price"));
        assert_eq!(flag_for("credits.topup", "amount"), None, "--amount says itself");
        assert_eq!(flag_for("nothing.here", "amount"), None);
    }

    #[test]
    fn flags_become_the_command_input() {
        let m = build()
            .try_get_matches_from([
                "tollgate",
                "credits",
                "topup",
                "--tenant",
                "acme",
                "--amount",
                "5000",
                "--idempotency-key",
                "X",
            ])
            .expect("valid arguments parse");
        let (_, group) = m.subcommand().unwrap();
        let (_, leaf) = group.subcommand().unwrap();
        let mut pick = Pick { path: ("credits", Some("topup")), matches: leaf, found: None };
        command::visit_all(&mut pick);
        let (name, input) = pick.found.unwrap().unwrap();
        assert_eq!(name, "credits.topup", "the command is found by its words");
        assert_eq!(input["amount"], 5000, "numbers stay numbers");
        assert_eq!(input["idempotency_key"], "X", "flags map to fields");
    }
}
