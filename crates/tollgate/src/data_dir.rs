//! The data directory: the database, the admin token, the single-owner lock, and the
//! address of the running server, `tollgate serve` or the desktop app (so the CLI can
//! talk to it).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
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
    pub fn resolve(given: Option<PathBuf>) -> Result<Self> {
        let path = match given {
            Some(p) => p,
            None => dirs::data_dir()
                .context("cannot find the OS data directory; pass --data-dir or set TOLLGATE_DATA_DIR")?
                .join("tollgate"),
        };
        fs::create_dir_all(&path).with_context(|| format!("cannot create data directory {}", path.display()))?;
        Ok(Self { path })
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The SQLite database file.
    pub fn database(&self) -> PathBuf {
        self.path.join("tollgate.db")
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
        fs::write(&tmp, serde_json::to_vec_pretty(endpoint)?)?;
        fs::rename(&tmp, self.endpoint_path())?;
        Ok(())
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
