//! One app per data directory. Launching it again (from the menu, say, after the window
//! was closed to the tray) shows the running app's window instead of failing on the lock.
//! The running app listens on a Unix socket in the data directory; a second launch
//! connects and asks. (Not a signal: WebKit's JavaScriptCore owns SIGUSR1 in-process.)

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use tauri::{AppHandle, Runtime};
use tokio::io::AsyncReadExt;
use tokio::net::UnixListener;
use tollgate::data_dir::DataDir;

use crate::tray;

fn socket(dir: &DataDir) -> PathBuf {
    dir.path().join("desktop.sock")
}

/// Asks the desktop app that owns `dir` to show its window; false when no app answers
/// (nothing runs, or the owner is `tollgate serve`, which the lock then reports).
pub fn show_running(dir: &DataDir) -> bool {
    match UnixStream::connect(socket(dir)) {
        Ok(mut stream) => stream.write_all(b"show\n").is_ok(),
        Err(_) => false,
    }
}

/// Listens for later launches on `dir`; each one brings the window back on the monitor.
/// Call only while owning the data directory (the stale socket of a crash is replaced).
pub fn listen<R: Runtime>(dir: &DataDir, app: AppHandle<R>) {
    let path = socket(dir);
    tauri::async_runtime::spawn(async move {
        let _ = std::fs::remove_file(&path);
        let listener = match UnixListener::bind(&path) {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "a second launch cannot reach this app");
                return;
            }
        };
        while let Ok((mut stream, _)) = listener.accept().await {
            // Each caller on its own task with a deadline: one that connects and stays
            // silent must not keep the next launch waiting.
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                let mut request = [0u8; 16];
                let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut request)).await;
                if let Ok(Ok(n)) = read
                    && request[..n].starts_with(b"show")
                {
                    tracing::info!("another launch asked for the window");
                    tray::open_monitor(&app);
                }
            });
        }
    });
}

/// Removes the socket when the app stops.
pub fn forget(dir: &DataDir) {
    let _ = std::fs::remove_file(socket(dir));
}
