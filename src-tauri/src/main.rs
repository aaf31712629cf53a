//! `tollgate-desktop`: the desktop console. All of it lives in the library so tests can
//! drive the same code.

use std::process::ExitCode;

/// The gateway in this process measured faster with mimalloc (see the `tollgate` binary).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let small_pages = tollgate::huge_pages::refuse();
    // WebKitGTK's DMA-BUF renderer shows a blank window on some GPU drivers (NVIDIA, some
    // Wayland sessions), and without it the app measured about 30% less memory and an
    // earlier first paint (bench/desktop.sh). The operator's own setting wins.
    if std::env::var_os("WEBKIT_DISABLE_DMABUF_RENDERER").is_none() {
        // SAFETY: at the start of main, before any other thread exists.
        unsafe { std::env::set_var("WEBKIT_DISABLE_DMABUF_RENDERER", "1") };
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("TOLLGATE_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = small_pages {
        tracing::debug!(error = %e, "cannot turn transparent huge pages off");
    }
    // Each connection costs a descriptor; the listeners size their caps from this limit.
    if let Err(e) = tollgate::node::raise_open_file_limit() {
        tracing::debug!(error = %e, "cannot raise the open-file limit");
    }
    match tollgate_desktop::shell::Options::from_env().and_then(tollgate_desktop::run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
