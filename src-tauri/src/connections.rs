//! The servers the console manages: the node inside this app ("local") and remote `tollgate
//! serve` instances, by admin URL. Names, URLs and pinned certificate fingerprints are kept
//! in `connections.json` in the data directory; tokens only in the OS keyring (Secret
//! Service on Linux), never in a file. The active connection receives every console
//! command and the live feed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tollgate::admin_client::AdminClient;
use tollgate_core::ErrorBody;

/// Where tokens are kept.
pub trait Secrets: Send + Sync {
    fn get(&self, id: &str) -> Result<String, String>;
    fn set(&self, id: &str, token: &str) -> Result<(), String>;
    fn delete(&self, id: &str) -> Result<(), String>;
}

/// The OS keyring: service `tollgate`, one entry per connection.
pub struct Keyring;

impl Keyring {
    fn entry(id: &str) -> Result<keyring::Entry, String> {
        keyring::Entry::new("tollgate", &format!("connection/{id}")).map_err(|e| e.to_string())
    }
}

impl Secrets for Keyring {
    fn get(&self, id: &str) -> Result<String, String> {
        Self::entry(id)?.get_password().map_err(|e| e.to_string())
    }
    fn set(&self, id: &str, token: &str) -> Result<(), String> {
        Self::entry(id)?.set_password(token).map_err(|e| e.to_string())
    }
    fn delete(&self, id: &str) -> Result<(), String> {
        match Self::entry(id)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// A remote server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub id: String,
    pub name: String,
    /// `https://host:port` (or `http://` on loopback).
    pub url: String,
    /// The admin certificate's SHA-256, pinned on first connect.
    pub fingerprint: Option<String>,
}

/// The connections and which one is in use (`None`: the local node).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Listing {
    pub connections: Vec<Connection>,
    pub active: Option<String>,
}

/// The connections file, the keyring, and a client per remote connection.
pub struct Connections {
    file: Option<PathBuf>,
    saved: Mutex<Listing>,
    secrets: Arc<dyn Secrets>,
    clients: Mutex<HashMap<String, Arc<AdminClient>>>,
}

fn refused(code: &str, message: impl Into<String>, field: Option<&str>) -> ErrorBody {
    ErrorBody { code: code.into(), message: message.into(), field: field.map(str::to_string) }
}

impl Connections {
    /// Reads `file` (absent: only the local node); `None` keeps nothing on disk.
    pub fn open(file: Option<PathBuf>, secrets: Arc<dyn Secrets>) -> Self {
        let saved = file
            .as_ref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Self { file, saved: Mutex::new(saved), secrets, clients: Mutex::default() }
    }

    pub fn list(&self) -> Listing {
        self.saved.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Adds a remote server after reaching it with `token`: its certificate's fingerprint is
    /// pinned then (trust on first use), the token goes to the keyring.
    pub async fn add(&self, name: &str, url: &str, token: &str, actor: String) -> Result<Connection, ErrorBody> {
        let name = name.trim();
        if name.is_empty() {
            return Err(refused("INVALID_INPUT", "give the connection a name", Some("name")));
        }
        if self.list().connections.iter().any(|c| c.name.eq_ignore_ascii_case(name)) {
            return Err(refused("NAME_TAKEN", format!("a connection named '{name}' exists"), Some("name")));
        }
        let client = AdminClient::new(url, token, None, actor).map_err(|m| refused("INVALID_INPUT", m, Some("url")))?;
        client.call("storage.status", &serde_json::json!({})).await.map_err(|e| e.body())?;
        let id = format!("c{}", chrono::Utc::now().timestamp_micros());
        let connection = Connection {
            id: id.clone(),
            name: name.to_string(),
            url: client.url().to_string(),
            fingerprint: client.fingerprint_seen(),
        };
        self.secrets.set(&id, token.trim()).map_err(|e| {
            refused("KEYRING_UNAVAILABLE", format!("cannot keep the token in the OS keyring: {e}"), None)
        })?;
        self.change(|saved| saved.connections.push(connection.clone()))?;
        Ok(connection)
    }

    /// Forgets a connection and its token; the local node becomes active if it was.
    pub fn remove(&self, id: &str) -> Result<(), ErrorBody> {
        if !self.list().connections.iter().any(|c| c.id == id) {
            return Err(refused("NOT_FOUND", format!("no connection '{id}'"), Some("id")));
        }
        self.secrets.delete(id).map_err(|e| refused("KEYRING_UNAVAILABLE", e, None))?;
        self.clients.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        self.change(|saved| {
            saved.connections.retain(|c| c.id != id);
            if saved.active.as_deref() == Some(id) {
                saved.active = None;
            }
        })
    }

    /// Makes `id` (or, for `None`, the local node) the one the console manages.
    pub fn activate(&self, id: Option<&str>) -> Result<(), ErrorBody> {
        if let Some(id) = id
            && !self.list().connections.iter().any(|c| c.id == id)
        {
            return Err(refused("NOT_FOUND", format!("no connection '{id}'"), Some("id")));
        }
        self.change(|saved| saved.active = id.map(str::to_string))
    }

    /// The active remote server's client; `None` while the local node is active.
    pub fn active_client(&self, actor: impl FnOnce() -> String) -> Result<Option<Arc<AdminClient>>, ErrorBody> {
        let listing = self.list();
        let Some(id) = listing.active else { return Ok(None) };
        if let Some(client) = self.clients.lock().unwrap_or_else(|p| p.into_inner()).get(&id) {
            return Ok(Some(client.clone()));
        }
        let connection = listing
            .connections
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| refused("NOT_FOUND", format!("the active connection '{id}' is gone"), None))?;
        let token = self.secrets.get(&id).map_err(|e| {
            refused(
                "KEYRING_UNAVAILABLE",
                format!("cannot read {}'s token from the OS keyring: {e}", connection.name),
                None,
            )
        })?;
        let client = AdminClient::new(&connection.url, &token, connection.fingerprint.as_deref(), actor())
            .map_err(|m| refused("INVALID_INPUT", m, None))?;
        let client = Arc::new(client);
        self.clients.lock().unwrap_or_else(|p| p.into_inner()).insert(id, client.clone());
        Ok(Some(client))
    }

    fn change(&self, edit: impl FnOnce(&mut Listing)) -> Result<(), ErrorBody> {
        let mut saved = self.saved.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = saved.clone();
        edit(&mut next);
        if let Some(file) = &self.file {
            let text = serde_json::to_vec_pretty(&next).unwrap_or_default();
            let tmp = file.with_extension("json.new");
            std::fs::write(&tmp, text)
                .and_then(|()| std::fs::rename(&tmp, file))
                .map_err(|e| refused("STORAGE_UNAVAILABLE", format!("cannot write {}: {e}", file.display()), None))?;
        }
        *saved = next;
        Ok(())
    }
}

/// Tokens in memory, for tests of everything but the keyring itself.
#[derive(Default)]
pub struct MemorySecrets(Mutex<HashMap<String, String>>);

impl Secrets for MemorySecrets {
    fn get(&self, id: &str) -> Result<String, String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned().ok_or_else(|| "no entry".into())
    }
    fn set(&self, id: &str, token: &str) -> Result<(), String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(id.into(), token.into());
        Ok(())
    }
    fn delete(&self, id: &str) -> Result<(), String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        Ok(())
    }
}
