//! The dashboard's address with the admin token in its fragment: what a person opens.
//!
//! `tollgate serve` prints it only to a terminal (a service's stdout ends up in system logs,
//! and the token opens the admin API); `tollgate dashboard-url` prints it on demand from the
//! running server's endpoint file and the token in the data directory.

use anyhow::{Result, bail};

use crate::data_dir::DataDir;

/// `http://127.0.0.1:8401/#token=…`: the token rides in the fragment, which browsers send
/// nowhere, and the page moves it into session storage at once.
pub fn with_token(admin_url: &str, token: &str) -> String {
    format!("{admin_url}/#token={token}")
}

/// The dashboard URL of the server that owns `dir`.
pub fn of_running_server(dir: &DataDir) -> Result<String> {
    let Some(endpoint) = dir.running_server()? else {
        bail!(
            "no tollgate serve or desktop app is running on {}; start one with `tollgate serve`",
            dir.path().display()
        );
    };
    Ok(with_token(&endpoint.admin_url, &dir.token()?))
}

/// What `serve` prints instead of the URL when its output is not a terminal.
pub fn hint(dir: &DataDir) -> String {
    format!(
        "Open the dashboard: run `tollgate --data-dir {} dashboard-url` for its address (it carries the admin token, so it is printed only to a terminal)",
        dir.path().display()
    )
}
