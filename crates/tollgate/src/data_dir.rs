//! The data directory: the database, the admin token, the single-owner lock, and the
//! address of the running server, `tollgate serve` or the desktop app (so the CLI can
//! talk to it).
//!
//! It holds tenants, balances and the admin token, so it is private to its owner: the
//! directory is 0700 when Tollgate creates it and every file Tollgate keeps there is 0600.
//! A process that resolves a data directory creates only private files from then on
//! (umask 077), which also covers what SQLite and the desktop app create later
//! (`-wal`/`-shm` take the database's mode, the desktop app's socket the umask's).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};

/// Where a running server can be reached; written by `serve`, read by the CLI.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    /// Base URL of the admin API, e.g. `http://127.0.0.1:8401`.
    pub admin_url: String,
    /// Base URL of the gateway, e.g. `http://127.0.0.1:8402` (absent in files from
    /// versions that did not write it).
    #[serde(default)]
    pub gateway_url: Option<String>,
    /// The serving process, for messages.
    pub pid: u32,
    /// The admin API's certificate fingerprint when it serves TLS (the CLI pins it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_fingerprint: Option<String>,
}

/// A resolved data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    path: PathBuf,
}

/// Held for as long as this process owns the data directory; dropping it releases it.
#[derive(Debug)]
pub struct OwnerLock {
    _file: File,
}

impl DataDir {
    /// `--data-dir`/`TOLLGATE_DATA_DIR` when given, else the OS data directory's `tollgate/`.
    /// Creates it (0700) when missing and makes this process create only private files.
    /// An existing directory keeps its mode when it was given (it may be shared, as `/tmp`
    /// is) and a warning names what others can see; the OS default location is Tollgate's
    /// own and is tightened to 0700. Tollgate's own files in it are tightened to 0600.
    pub fn resolve(given: Option<PathBuf>) -> Result<Self> {
        let (path, ours) = match given {
            Some(p) => (p, false),
            None => (
                dirs::data_dir()
                    .context("cannot find the OS data directory; pass --data-dir or set TOLLGATE_DATA_DIR")?
                    .join("tollgate"),
                true,
            ),
        };
        private_files();
        let created = !path.exists();
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("cannot create data directory {}", path.display()))?;
        let dir = Self { path };
        dir.restrict(ours || created)?;
        Ok(dir)
    }

    /// Tightens Tollgate's files in the directory to 0600, and the directory itself to 0700
    /// when `tighten_dir` (else warns when others may list it).
    fn restrict(&self, tighten_dir: bool) -> Result<()> {
        let mode = fs::metadata(&self.path)?.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            if tighten_dir {
                fs::set_permissions(&self.path, fs::Permissions::from_mode(0o700))
                    .with_context(|| format!("cannot restrict permissions of {}", self.path.display()))?;
                tracing::warn!(dir = %self.path.display(), was = format!("{mode:o}"), "restricted the data directory to its owner (0700)");
            } else {
                tracing::warn!(
                    dir = %self.path.display(),
                    mode = format!("{mode:o}"),
                    "other users can list the data directory; its files are private, but consider `chmod 700` on it"
                );
            }
        }
        for name in OWN_FILES {
            let file = self.path.join(name);
            let Ok(meta) = fs::symlink_metadata(&file) else { continue };
            let kind = meta.file_type();
            let mode = meta.permissions().mode() & 0o7777;
            if (kind.is_file() || kind.is_socket()) && mode & 0o077 != 0 {
                fs::set_permissions(&file, fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("cannot restrict permissions of {}", file.display()))?;
                tracing::warn!(file = %file.display(), was = format!("{mode:o}"), "restricted a data file to its owner (0600)");
            }
        }
        Ok(())
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The SQLite database file.
    pub fn database(&self) -> PathBuf {
        self.path.join("tollgate.db")
    }

    /// The request log's ring file (see `tollgate_core::store::request_log`).
    pub fn request_log(&self) -> PathBuf {
        self.path.join("requests.log")
    }

    fn token_path(&self) -> PathBuf {
        self.path.join("admin-token")
    }

    fn endpoint_path(&self) -> PathBuf {
        self.path.join("serve.json")
    }

    /// Takes the single-owner lock, or returns `None` when another process holds it.
    pub fn try_lock(&self) -> Result<Option<OwnerLock>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(self.path.join("tollgate.lock"))
            .context("cannot open the data directory's lock file")?;
        match file.try_lock() {
            Ok(()) => Ok(Some(OwnerLock { _file: file })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e).context("cannot lock the data directory"),
        }
    }

    /// The admin bearer token, created (mode 0600) on first use.
    pub fn token(&self) -> Result<String> {
        let path = self.token_path();
        if let Ok(token) = fs::read_to_string(&path) {
            let mode = fs::metadata(&path)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("cannot restrict permissions of {}", path.display()))?;
            }
            let token = token.trim().to_string();
            if token.len() >= 32 {
                return Ok(token);
            }
            bail!("{} is damaged (too short); delete it to generate a new token", path.display());
        }
        let token: String = rand::rng().sample_iter(&Alphanumeric).take(48).map(char::from).collect();
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        file.write_all(token.as_bytes())?;
        Ok(token)
    }

    /// Publishes where this server listens.
    pub fn write_endpoint(&self, endpoint: &Endpoint) -> Result<()> {
        let tmp = self.path.join("serve.json.tmp");
        let _ = fs::remove_file(&tmp);
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        file.write_all(&serde_json::to_vec_pretty(endpoint)?)?;
        drop(file);
        fs::rename(&tmp, self.endpoint_path())?;
        Ok(())
    }

    /// Where the process that owns this directory serves, when one does; `None` when
    /// nobody owns it (an endpoint file left by a crash is ignored).
    pub fn running_server(&self) -> Result<Option<Endpoint>> {
        if self.try_lock()?.is_some() {
            return Ok(None);
        }
        Ok(self.read_endpoint())
    }

    /// Where the running server listens, when one has said so.
    pub fn read_endpoint(&self) -> Option<Endpoint> {
        let bytes = fs::read(self.endpoint_path()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Forgets the endpoint when the server stops.
    pub fn remove_endpoint(&self) {
        let _ = fs::remove_file(self.endpoint_path());
    }
}

/// The files Tollgate keeps in a data directory (the desktop app's socket included).
const OWN_FILES: &[&str] = &[
    "tollgate.db",
    "tollgate.db-wal",
    "tollgate.db-shm",
    "tollgate.db-journal",
    "admin-token",
    "tollgate.lock",
    "serve.json",
    "serve.json.tmp",
    "desktop.sock",
    "requests.log",
];

/// From here on this process creates files and sockets for its owner only (umask 077).
fn private_files() {
    // SAFETY: umask(2) only swaps the process's file mode mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}
