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
    /// Parses `args` (without the program name). Flags it does not know are left out
    /// first: a WebDriver launches the app with its own (`--automation`).
    pub fn parse_from_args(args: impl IntoIterator<Item = String>) -> Result<Self, clap::Error> {
        let command = Self::command();
        let known = |flag: &str| {
            let name = flag.trim_start_matches('-').split('=').next().unwrap_or_default();
            matches!(name, "help" | "version")
                || command.get_arguments().any(|a| a.get_long() == Some(name))
                || !flag.starts_with("--")
        };
        let argv = std::iter::once(OsString::from("tollgate-desktop"))
            .chain(args.into_iter().filter(|a| known(a)).map(OsString::from));
        let matches = command.clone().try_get_matches_from(argv)?;
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
        let a = parse(&["--automation", "--data-dir", "/d", "--gateway-listen", "127.0.0.1:0"]).unwrap();
        assert_eq!(a.data_dir.as_deref(), Some(std::path::Path::new("/d")));
        assert_eq!(a.listen.gateway_listen, Some("127.0.0.1:0".parse().unwrap()));
        let e = parse(&["--admin-listen", "localhost"]).unwrap_err().to_string();
        assert!(e.contains("--admin-listen") && e.contains("localhost"), "a bad address is named: {e}");
    }
}
