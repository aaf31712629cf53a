//! The README's "first five minutes", run as written by bash against the real binary, the
//! real echo upstream and a real `tollgate serve`: it must end with a 200, then a 402. The
//! block is read from README.md, so the test breaks when the README drifts.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

const START: &str = "<!-- walkthrough:";
const END: &str = "<!-- /walkthrough -->";

/// The shell block between the README's walkthrough markers.
fn walkthrough(readme: &str) -> String {
    let from = readme.find(START).expect("README.md marks its walkthrough");
    let to = readme[from..].find(END).expect("the walkthrough's end marker") + from;
    let section = &readme[from..to];
    let body = section.split_once("```sh\n").expect("a ```sh block in the walkthrough").1;
    body.split_once("```").expect("the block closes").0.to_string()
}

/// A port the OS has just handed out and taken back, for a fixed address in the README.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Kills the script's process group (the echo and the server with it) if the test fails.
struct Group(i32);

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: signals a process group this test created.
        unsafe { libc::kill(-self.0, libc::SIGKILL) };
    }
}

#[test]
fn the_readme_walkthrough_ends_with_a_200_then_a_402() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let block = walkthrough(&std::fs::read_to_string(root.join("README.md")).unwrap());
    for fixed in ["127.0.0.1:9000", "127.0.0.1:8402", "curl", "tollgate serve", "tollgate echo"] {
        assert!(block.contains(fixed), "the walkthrough uses {fixed}:\n{block}");
    }
    // Other tests and engineers run beside this one: the README's ports become free ones.
    let upstream = format!("127.0.0.1:{}", free_port());
    let gateway = format!("127.0.0.1:{}", free_port());
    let block = block.replace("127.0.0.1:9000", &upstream).replace("127.0.0.1:8402", &gateway);

    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_tollgate"), bin.join("tollgate")).unwrap();
    let script = format!("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n{block}\nwait\n");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let child = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("PATH", path)
        .env("TOLLGATE_DATA_DIR", dir.path().join("data"))
        .env("TOLLGATE_ADMIN_LISTEN", "127.0.0.1:0")
        .env("TOLLGATE_LOG", "warn")
        .env_remove("TOLLGATE_GATEWAY_LISTEN")
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash runs");
    let _group = Group(child.id() as i32);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the walkthrough runs to its end:\n{stdout}\n--- stderr\n{stderr}");

    let served = stdout.find("HTTP/1.1 200").unwrap_or_else(|| panic!("a call is served:\n{stdout}\n{stderr}"));
    let refused = stdout.find("HTTP/1.1 402").unwrap_or_else(|| panic!("then one is refused:\n{stdout}\n{stderr}"));
    assert!(served < refused, "the 200 comes first:\n{stdout}");
    let (answer, refusal) = (&stdout[served..refused], &stdout[refused..]);
    assert!(answer.contains(r#""method":"GET""#), "the echo upstream answered:\n{answer}");
    assert!(answer.contains(r#""path":"/v1/search?q=hello""#), "with what it got:\n{answer}");
    assert!(answer.contains(r#""x-tollgate-tenant":"acme-corp""#), "through the gateway:\n{answer}");
    assert!(!answer.contains("tg_live_"), "which never forwards the key:\n{answer}");
    assert!(refusal.contains("ACCOUNT_SUSPENDED_NONPAYMENT"), "a 402 says why:\n{refusal}");
    assert!(refusal.contains("https://billing.acme-api.com/acme-corp"), "and where to pay:\n{refusal}");
    assert!(stdout.contains("49.00 USD"), "the plan's price prints as money:\n{stdout}");
    assert!(stdout.contains("Tollgate stopped cleanly"), "the server stopped the clean way:\n{stdout}");
}
