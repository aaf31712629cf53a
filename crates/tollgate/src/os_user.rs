//! Who runs this process, for the audit log: `cli:alice`, `desktop:alice`.

/// The name of the user running this process: `$USER`, else `$LOGNAME`, else the
/// account database's name for the real user id; `None` only when none of them has one.
pub fn name() -> Option<String> {
    from_env(|key| std::env::var(key).ok()).or_else(account_name)
}

/// `kind:user` (e.g. `cli:alice`), or `kind:uid-1000` when the user id has no name.
pub fn actor(kind: &str) -> String {
    match name() {
        Some(user) => format!("{kind}:{user}"),
        #[cfg(unix)]
        // SAFETY: getuid(2) cannot fail and touches no memory of ours.
        None => format!("{kind}:uid-{}", unsafe { libc::getuid() }),
        #[cfg(not(unix))]
        None => format!("{kind}:unknown"),
    }
}

/// The first of `USER` and `LOGNAME` that names someone (non-empty, no control characters).
fn from_env(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    ["USER", "LOGNAME"]
        .into_iter()
        .filter_map(var)
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty() && !v.chars().any(char::is_control))
}

/// The login name of the real user id, from the account database (`/etc/passwd`, NSS).
#[cfg(unix)]
fn account_name() -> Option<String> {
    let mut buf = vec![0u8; 4096];
    // SAFETY: getpwuid_r writes only into `pwd` and `buf` (whose length it is given) and
    // sets `found` to `pwd` or null; `pw_name` then points into `buf`, alive until the end.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(libc::getuid(), &mut pwd, buf.as_mut_ptr().cast(), buf.len(), &mut found);
        if rc != 0 || found.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        let name = std::ffi::CStr::from_ptr(pwd.pw_name).to_string_lossy().trim().to_string();
        (!name.is_empty()).then_some(name)
    }
}

#[cfg(not(unix))]
fn account_name() -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_names_the_user_first() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |key: &str| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string())
        };
        assert_eq!(from_env(env(&[("USER", "alice"), ("LOGNAME", "bob")])), Some("alice".into()), "USER first");
        assert_eq!(from_env(env(&[("USER", " "), ("LOGNAME", "bob")])), Some("bob".into()), "then LOGNAME");
        assert_eq!(from_env(env(&[("USER", "a\x1b[2J")])), None, "never a control sequence");
        assert_eq!(from_env(env(&[])), None, "nothing set");
    }

    #[cfg(unix)]
    #[test]
    fn without_the_environment_the_account_database_names_the_user() {
        // Whoever runs the tests has an account (CI containers included); its name is what
        // `id -un` prints.
        let expected = std::process::Command::new("id").arg("-un").output().expect("id runs");
        let expected = String::from_utf8_lossy(&expected.stdout).trim().to_string();
        assert_eq!(account_name(), Some(expected), "getpwuid_r finds the user");
    }
}
