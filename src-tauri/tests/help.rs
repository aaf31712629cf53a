//! `tollgate-desktop --help` prints help and exits, without a display and before any
//! window, listener or data directory: the real binary as a process.

use std::process::Command;

fn desktop(args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate-desktop"))
        .args(args)
        // Were the app to start, it would use this directory: it must stay empty.
        .env("TOLLGATE_DATA_DIR", dir.path().join("data"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("tollgate-desktop runs");
    assert!(!dir.path().join("data").exists(), "`{args:?}` touched no data directory");
    out
}

#[test]
fn help_prints_serves_flags_and_exits() {
    let out = desktop(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "--help exits 0: {}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with("Tollgate's desktop console"), "it says what it is:\n{text}");
    for flag in ["--data-dir <DIR>", "--admin-listen <ADMIN_LISTEN>", "--gateway-listen <GATEWAY_LISTEN>", "--version"]
    {
        assert!(text.contains(flag), "{flag} as for `tollgate serve`:\n{text}");
    }
    let version = desktop(&["--version"]);
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("tollgate-desktop "), "--version prints it");
}

#[test]
fn a_bad_flag_is_refused_by_name() {
    let out = desktop(&["--gateway-listen", "nowhere"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("--gateway-listen") && said.contains("nowhere"), "{said}");
}
