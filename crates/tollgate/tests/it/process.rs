//! Runs the real `tollgate` binary: one-shot CLI commands and a long-running server.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate"));
    cmd.env_remove("TOLLGATE_DATA_DIR").env("TOLLGATE_LOG", "warn");
    cmd
}

/// Runs `tollgate --data-dir DIR ARGS…`.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    binary().arg("--data-dir").arg(dir).args(args).output().expect("tollgate runs")
}

/// Runs with `--json`, asserts success, and parses the output.
pub fn json(dir: &Path, args: &[&str]) -> Value {
    let out = run(dir, &[args, &["--json"]].concat());
    assert!(out.status.success(), "`tollgate {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("--json prints JSON")
}

/// Runs, asserts failure, and returns what it printed on stderr.
pub fn fails(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(!out.status.success(), "`tollgate {}` should have failed", args.join(" "));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A `tollgate serve` on an ephemeral port, with everything it prints collected.
pub struct Server {
    child: Child,
    pub url: String,
    pub output: Arc<Mutex<String>>,
}

impl Server {
    pub fn start(dir: &Path, log_level: &str) -> Self {
        let mut child = binary()
            .env("TOLLGATE_LOG", log_level)
            .arg("--data-dir")
            .arg(dir)
            .args(["serve", "--admin-listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve starts");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = output.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(url) = line.strip_prefix("Tollgate admin API listening on ") {
                        let _ = tx.send(url.to_string());
                    }
                    output.lock().unwrap().push_str(&format!("{line}\n"));
                }
            });
        }
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("serve did not report its address; it printed:\n{}", output.lock().unwrap()));
        Self { child, url, output }
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn stop(mut self) -> (ExitStatus, String) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "serve did not stop within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(100)); // let the readers drain the pipes
        let output = self.output.lock().unwrap().clone();
        (status, output)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The data directory's files, for byte searches.
pub fn data_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect()
}
