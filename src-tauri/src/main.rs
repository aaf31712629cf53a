//! `tollgate-desktop`: the desktop console. All of it lives in the library so tests can
//! drive the same code.

use std::process::ExitCode;

/// The gateway in this process measured faster with mimalloc (see the `tollgate` binary).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("TOLLGATE_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    match tollgate_desktop::shell::Options::from_env().and_then(tollgate_desktop::run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
