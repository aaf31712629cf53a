//! `tollgate`: the headless server and the operator's command line.

use std::process::ExitCode;

use tollgate::cli::{self, Invocation};
use tollgate::data_dir::DataDir;
use tollgate::out::{self, OutputClosed};
use tollgate::{dashboard_url, echo, remote, render, serve, tail};
use tollgate_core::Command;
use tollgate_core::console::verify::Verify;
use tollgate_core::store::import::TenantImport;

/// mimalloc: the gateway allocates many small, short-lived objects per request, and it
/// measured markedly cheaper than the system allocator for that (bench/gateway.sh). It
/// asks for no transparent huge pages (`no_thp`), and [`tollgate::huge_pages`] refuses the
/// ones a kernel would give unasked.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let small_pages = tollgate::huge_pages::refuse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("TOLLGATE_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Err(e) = small_pages {
        tracing::debug!(error = %e, "cannot turn transparent huge pages off");
    }
    // Each connection costs a descriptor; the listeners size their caps from this limit.
    if let Err(e) = tollgate_gateway::listener::raise_open_file_limit() {
        tracing::debug!(error = %e, "cannot raise the open-file limit");
    }
    let runtime = runtime().build().expect("tokio runtime starts");
    match runtime.block_on(run()) {
        Ok(code) => code,
        Err(e) if e.is::<OutputClosed>() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// One thread when the process may use only one CPU (a pinned or one-core container):
/// a multi-thread scheduler there only adds cross-thread wake-ups (bench/gateway.sh).
fn runtime() -> tokio::runtime::Builder {
    let mut builder = if std::thread::available_parallelism().map_or(1, usize::from) == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all();
    builder
}

async fn run() -> anyhow::Result<ExitCode> {
    let (invocation, globals) = cli::parse()?;
    let dir = DataDir::resolve(globals.data_dir)?;
    match invocation {
        Invocation::Serve(args) => serve::run(dir, *args).await.map(|()| ExitCode::SUCCESS),
        Invocation::Echo(args) => echo::run(args).await.map(|()| ExitCode::SUCCESS),
        Invocation::Tail(args) => tail::run(&dir, args, globals.json).await.map(|()| ExitCode::SUCCESS),
        Invocation::DashboardUrl => {
            let url = dashboard_url::of_running_server(&dir)?;
            if globals.json {
                out::print(&format!("{}\n", serde_json::json!({ "url": url })))?;
            } else {
                out::print(&format!("{url}\n"))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Invocation::Import { file, dry_run } => {
            let input = import_input(&file, dry_run)?;
            print(&remote::execute(&dir, TenantImport::NAME, input).await?, globals.json)?;
            Ok(ExitCode::SUCCESS)
        }
        Invocation::Console { name, input } => {
            let output = remote::execute(&dir, name, input).await.map_err(|e| with_flag(e, name))?;
            print(&output, globals.json)?;
            if !globals.json && (output.get("secret").is_some() || output.pointer("/issued/secret").is_some()) {
                eprintln!("\nStore this key now: Tollgate keeps only its hash and cannot show it again.");
            }
            let failed_check = name == Verify::NAME && output.get("ok") == Some(&serde_json::Value::Bool(false));
            Ok(if failed_check { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
    }
}

/// An input error about a field whose flag reads differently also names the flag.
fn with_flag(e: anyhow::Error, name: &str) -> anyhow::Error {
    let flag =
        e.downcast_ref::<remote::Failure>().and_then(|f| f.0.field.as_deref()).and_then(|f| cli::flag_for(name, f));
    match flag {
        Some(flag) => anyhow::anyhow!("{e}, given as {flag}"),
        None => e,
    }
}

/// The `tenant.import` input for a file: the format from its extension, its contents.
fn import_input(file: &std::path::Path, dry_run: bool) -> anyhow::Result<serde_json::Value> {
    use anyhow::Context;
    let format = match file.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("csv") => "csv",
        Some("jsonl" | "ndjson" | "json") => "jsonl",
        _ => anyhow::bail!("{}: name the file .csv or .jsonl so its format is known", file.display()),
    };
    let data = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok(serde_json::json!({ "format": format, "data": data, "dry_run": dry_run }))
}

/// Prints a command's output as a table, or as JSON with `--json`.
fn print(output: &serde_json::Value, json: bool) -> anyhow::Result<()> {
    if json {
        out::print(&format!("{}\n", serde_json::to_string_pretty(output)?))
    } else {
        out::print(&render::human(output))
    }
}
