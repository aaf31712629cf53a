//! Tokens of remote connections go to the OS keyring (Secret Service) and come back from
//! it. Needs a Secret Service: `make test` runs it under `dbus-run-session` with
//! gnome-keyring unlocked (`scripts/with-keyring.sh`), hence `#[ignore]` for a bare
//! `cargo test`.

use tollgate_desktop::connections::{Keyring, Secrets};

#[test]
#[ignore = "needs a Secret Service: scripts/with-keyring.sh"]
fn a_token_is_stored_read_back_and_deleted_through_the_secret_service() {
    let id = format!("test-{}", std::process::id());
    Keyring.set(&id, "tok_0123456789").expect("the keyring takes the token");
    assert_eq!(Keyring.get(&id).unwrap(), "tok_0123456789");
    Keyring.set(&id, "tok_rotated").unwrap();
    assert_eq!(Keyring.get(&id).unwrap(), "tok_rotated", "a new token replaces the old");
    Keyring.delete(&id).unwrap();
    assert!(Keyring.get(&id).is_err(), "deleted");
    Keyring.delete(&id).expect("deleting twice is fine");
}
