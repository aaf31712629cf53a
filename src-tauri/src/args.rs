//! The desktop app's command line: the same `--data-dir`, `--admin-listen` and
//! `--gateway-listen` as `tollgate serve` (the listen flags are serve's own struct), and
//! `--help`/`--version` that print and exit before any window or listener starts.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser};
use tollgate::serve::ListenArgs;

/// Tollgate's desktop console: the dashboard in a window, with the gateway and the admin
/// API in the same process. The CLI talks to it while it runs.
#[derive(Debug, Default, Parser)]
#[command(name = "tollgate-desktop", version)]
pub struct DesktopArgs {
    /// Data directory (default: the OS data directory's tollgate/)
    #[arg(long, env = "TOLLGATE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(flatten)]
    pub listen: ListenArgs,
}

impl DesktopArgs {
    /// Parses `args` (without the program name). Arguments it does not know are left out
    /// first, as they always were: a WebDriver launches the app with its own (`--automation`).
    pub fn parse_from_args(args: impl IntoIterator<Item = String>) -> Result<Self, clap::Error> {
        let command = Self::command();
        let flag = |arg: &str| {
            let name = arg.strip_prefix("--")?.split('=').next()?;
            if matches!(name, "help" | "version") {
                return Some(false);
            }
            let known = command.get_arguments().find(|a| a.get_long() == Some(name))?;
            Some(known.get_action().takes_values() && !arg.contains('='))
        };
        let mut kept = vec![OsString::from("tollgate-desktop")];
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match flag(&arg) {
                Some(takes_value) => {
                    kept.push(arg.into());
                    if takes_value {
                        kept.extend(args.next().map(OsString::from));
                    }
                }
                None if arg == "-h" || arg == "-V" => kept.push(arg.into()),
                None => tracing::debug!(%arg, "ignoring an argument the app does not take"),
            }
        }
        let matches = command.clone().try_get_matches_from(kept)?;
        Self::from_arg_matches(&matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(list: &[&str]) -> Result<DesktopArgs, clap::Error> {
        DesktopArgs::parse_from_args(list.iter().map(|s| s.to_string()))
    }

    #[test]
    fn help_and_version_stop_before_the_app_starts() {
        let help = parse(&["--help"]).unwrap_err();
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
        let text = help.to_string();
        for flag in ["--data-dir", "--admin-listen", "--gateway-listen"] {
            assert!(text.contains(flag), "{flag} in the help:\n{text}");
        }
        assert_eq!(parse(&["--version"]).unwrap_err().kind(), clap::error::ErrorKind::DisplayVersion);
    }

    #[test]
    fn takes_serves_flags_and_skips_a_webdrivers() {
        let a = parse(&["--automation", "--data-dir", "/d", "about:blank", "--gateway-listen=127.0.0.1:0"]).unwrap();
        assert_eq!(a.data_dir.as_deref(), Some(std::path::Path::new("/d")));
        assert_eq!(a.listen.gateway_listen, Some("127.0.0.1:0".parse().unwrap()));
        let e = parse(&["--admin-listen", "localhost"]).unwrap_err().to_string();
        assert!(e.contains("--admin-listen") && e.contains("localhost"), "a bad address is named: {e}");
    }
}
