//! Runs the real `tollgate` binary: one-shot CLI commands and a long-running server.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn binary() -> Command {
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
    pub gateway: String,
    pub output: Arc<Mutex<String>>,
}

impl Server {
    pub fn start(dir: &Path, log_level: &str) -> Self {
        Self::start_with(dir, log_level, &[])
    }

    /// Starts `serve` with `extra` arguments.
    pub fn start_with(dir: &Path, log_level: &str, extra: &[&str]) -> Self {
        Self::spawn(binary(), dir, log_level, extra)
    }

    /// Starts `serve` from `cmd` (the binary with its environment set).
    pub fn start_command(cmd: Command, dir: &Path, log_level: &str) -> Self {
        Self::spawn(cmd, dir, log_level, &[])
    }

    /// Starts `serve` allowed onto one CPU only, as in a one-core container or the
    /// benchmark: it then runs on a single-threaded runtime.
    pub fn start_on_one_cpu(dir: &Path, log_level: &str) -> Self {
        use std::os::unix::process::CommandExt;
        let mut cmd = binary();
        // SAFETY: sched_setaffinity on the child itself, between fork and exec; it
        // allocates nothing and touches no lock.
        unsafe {
            cmd.pre_exec(|| {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(0, &mut set);
                if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Self::spawn(cmd, dir, log_level, &[])
    }

    /// Starts `serve` with `extra` arguments under an open-file limit of `files`, soft and
    /// hard (so the server cannot raise it).
    pub fn start_with_file_limit(dir: &Path, files: u64, extra: &[&str]) -> Self {
        use std::os::unix::process::CommandExt;
        let mut cmd = binary();
        // SAFETY: setrlimit on the child itself, between fork and exec; it allocates
        // nothing and touches no lock.
        unsafe {
            cmd.pre_exec(move || {
                let limit = libc::rlimit { rlim_cur: files as libc::rlim_t, rlim_max: files as libc::rlim_t };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        Self::spawn(cmd, dir, "warn", extra)
    }

    /// The process id.
    /// What it printed so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn spawn(mut cmd: Command, dir: &Path, log_level: &str, extra: &[&str]) -> Self {
        let mut child = cmd
            .env("TOLLGATE_LOG", log_level)
            .arg("--data-dir")
            .arg(dir)
            .args(["serve", "--admin-listen", "127.0.0.1:0", "--gateway-listen", "127.0.0.1:0"])
            .args(extra)
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
                        let _ = tx.send(("admin", url.to_string()));
                    }
                    if let Some(url) = line.strip_prefix("Tollgate gateway listening on ") {
                        let _ = tx.send(("gateway", url.to_string()));
                    }
                    output.lock().unwrap().push_str(&format!("{line}\n"));
                }
            });
        }
        let (mut url, mut gateway) = (String::new(), String::new());
        while url.is_empty() || gateway.is_empty() {
            let (which, address) = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
                panic!("serve did not report its addresses; it printed:\n{}", output.lock().unwrap())
            });
            *if which == "admin" { &mut url } else { &mut gateway } = address;
        }
        Self { child, url, gateway, output }
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid has no memory effects.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn stop(mut self) -> (ExitStatus, String) {
        self.signal(libc::SIGTERM);
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

/// A fixed-response upstream on 127.0.0.1, in a thread of its own; returns its base URL.
pub fn upstream() -> String {
    upstream_after(Duration::ZERO)
}

/// [`upstream`], answering each request `delay` after it arrived.
pub fn upstream_after(delay: Duration) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(format!("http://{}", listener.local_addr().unwrap())).unwrap();
            let app = axum::Router::new().fallback(move || async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                "ok"
            });
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
}
