//! A client of a Tollgate admin API, this machine's or another's: console commands and the
//! live event stream. Over TLS it trusts the server by its certificate's fingerprint
//! ([`pinned`]): the one given, or on first use the one presented (then pin
//! [`AdminClient::fingerprint_seen`]). Plain HTTP is for loopback only, since the bearer
//! token opens everything.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::{Request, header};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tollgate_core::ErrorBody;
use tollgate_gateway::pinned::{self, Pinned};
use tollgate_gateway::tls::Trust;
use tollgate_gateway::upstream::{UpstreamError, dial};

use crate::admin::ACTOR_HEADER;

/// How long a console command may take, connection included.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long opening the event stream may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read (a listing of many tenants is a few MB).
const MAX_ANSWER: usize = 64 << 20;

/// Why a call did not get the server's answer, or the server's refusal.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the admin API at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error(
        "the server's certificate changed: pinned {pinned}, presented {presented}. If the server was given a new certificate, remove the connection and add it again; otherwise someone may be in between"
    )]
    CertificateChanged { pinned: String, presented: String },
    #[error("{}", .0.message)]
    Refused(ErrorBody),
}

impl ClientError {
    /// As the console's `{code, message}`.
    pub fn body(&self) -> ErrorBody {
        match self {
            Self::Refused(body) => body.clone(),
            Self::Unreachable { .. } => {
                ErrorBody { code: "REMOTE_UNREACHABLE".into(), message: self.to_string(), field: None }
            }
            Self::CertificateChanged { .. } => {
                ErrorBody { code: "CERTIFICATE_CHANGED".into(), message: self.to_string(), field: None }
            }
        }
    }
}

/// One admin API, by URL and token.
pub struct AdminClient {
    url: String,
    authority: String,
    /// The pin, and the TLS configuration verifying with it (made once).
    pin: Option<(Arc<Pinned>, Trust)>,
    token: String,
    actor: String,
}

impl AdminClient {
    /// A client of the admin API at `url` (`https://host:port`, or `http://` on loopback),
    /// trusting the certificate `fingerprint`, or on first use the one it presents.
    pub fn new(url: &str, token: &str, fingerprint: Option<&str>, actor: String) -> Result<Self, String> {
        let url = url.trim().trim_end_matches('/');
        let (tls, rest) = match url.split_once("://") {
            Some(("https", rest)) => (true, rest),
            Some(("http", rest)) => (false, rest),
            _ => return Err(format!("'{url}' is not an admin API address: write https://host:port")),
        };
        if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
            return Err(format!("'{url}' is not an admin API address: write https://host:port, with no path"));
        }
        if !tls && !is_loopback(rest) {
            return Err(format!(
                "'{url}' is plain HTTP to another machine: the token would cross the network in clear; use https://"
            ));
        }
        if token.trim().is_empty() {
            return Err("the admin token is empty: it is in the server's data directory, file admin-token".into());
        }
        Ok(Self {
            url: url.to_string(),
            authority: rest.to_string(),
            pin: tls.then(|| {
                let pin = Pinned::new(fingerprint);
                let trust = pin.trust();
                (pin, trust)
            }),
            token: token.trim().to_string(),
            actor,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The fingerprint of the certificate the server last presented (TLS only).
    pub fn fingerprint_seen(&self) -> Option<String> {
        self.pin.as_ref().and_then(|(p, _)| p.seen())
    }

    /// Runs console command `name` with `input` on the server.
    pub async fn call(&self, name: &str, input: &Value) -> Result<Value, ClientError> {
        let body = serde_json::to_vec(input).unwrap_or_default();
        let send = async {
            let request = self
                .request(hyper::Method::POST, &format!("/api/{name}"))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body)))
                .map_err(|e| self.unreachable(e.to_string()))?;
            let response = self.send(request).await?;
            let status = response.status();
            let bytes = Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| self.unreachable(format!("the answer broke off: {e}")))?
                .to_bytes();
            let value: Value = serde_json::from_slice(&bytes).map_err(|_| {
                self.unreachable(format!("the answer ({status}) is not JSON: is this a Tollgate admin API?"))
            })?;
            if status.is_success() {
                return Ok(value);
            }
            match serde_json::from_value::<ErrorBody>(value) {
                Ok(body) => Err(ClientError::Refused(body)),
                Err(_) => Err(self.unreachable(format!("the answer ({status}) is not an error of the admin API"))),
            }
        };
        tokio::time::timeout(CALL_TIMEOUT, send)
            .await
            .unwrap_or_else(|_| Err(self.unreachable(format!("no answer within {} s", CALL_TIMEOUT.as_secs()))))
    }

    /// Opens the live event stream (`GET /api/events?{query}`).
    pub async fn events(&self, query: &str) -> Result<EventStream, ClientError> {
        let path = if query.is_empty() { "/api/events".to_string() } else { format!("/api/events?{query}") };
        let open = async {
            let request = self
                .request(hyper::Method::GET, &path)
                .header(header::ACCEPT, "text/event-stream")
                .body(Full::new(Bytes::new()))
                .map_err(|e| self.unreachable(e.to_string()))?;
            let response = self.send(request).await?;
            if !response.status().is_success() {
                let status = response.status();
                let bytes = Limited::new(response.into_body(), 1 << 20).collect().await.map(|b| b.to_bytes());
                return Err(match bytes.ok().and_then(|b| serde_json::from_slice::<ErrorBody>(&b).ok()) {
                    Some(body) => ClientError::Refused(body),
                    None => self.unreachable(format!("the event stream answered {status}")),
                });
            }
            Ok(EventStream { body: response.into_body(), parser: SseParser::default(), ready: VecDeque::new() })
        };
        tokio::time::timeout(OPEN_TIMEOUT, open)
            .await
            .unwrap_or_else(|_| Err(self.unreachable("the event stream did not open within 10 s".into())))
    }

    fn request(&self, method: hyper::Method, path: &str) -> hyper::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.authority)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::USER_AGENT, concat!("Tollgate/", env!("CARGO_PKG_VERSION")))
            .header(ACTOR_HEADER, &self.actor)
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> Result<hyper::Response<Incoming>, ClientError> {
        let io =
            dial(&self.authority, self.pin.as_ref().map(|(_, trust)| trust)).await.map_err(|e| self.dial_error(e))?;
        let (mut sender, connection) =
            http1::handshake::<_, Full<Bytes>>(TokioIo::new(io)).await.map_err(|e| self.unreachable(e.to_string()))?;
        tokio::spawn(connection);
        sender.send_request(request).await.map_err(|e| self.unreachable(e.to_string()))
    }

    fn dial_error(&self, e: UpstreamError) -> ClientError {
        if let (UpstreamError::Tls { source, .. }, Some((pin, _))) = (&e, &self.pin)
            && source.to_string().contains(pinned::CHANGED)
        {
            return ClientError::CertificateChanged {
                pinned: pin.expected().unwrap_or_default().to_string(),
                presented: pin.seen().unwrap_or_default(),
            };
        }
        self.unreachable(e.to_string())
    }

    fn unreachable(&self, reason: String) -> ClientError {
        ClientError::Unreachable { url: self.url.clone(), reason }
    }
}

fn is_loopback(authority: &str) -> bool {
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// One Server-Sent Event: its name and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseMessage {
    pub event: String,
    pub data: String,
}

/// The live event stream of an admin API.
pub struct EventStream {
    body: Incoming,
    parser: SseParser,
    ready: VecDeque<SseMessage>,
}

impl EventStream {
    /// The next event; `None` when the server ended the stream, an error when it broke.
    pub async fn next(&mut self) -> Option<Result<SseMessage, String>> {
        loop {
            if let Some(message) = self.ready.pop_front() {
                return Some(Ok(message));
            }
            match self.body.frame().await? {
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        self.ready.extend(self.parser.push(&String::from_utf8_lossy(&data)));
                    }
                }
                Err(e) => return Some(Err(e.to_string())),
            }
        }
    }
}

/// Incremental SSE parsing (`event:`, `data:`, comments), as the dashboard's `sse.ts`.
#[derive(Default)]
struct SseParser {
    buffer: String,
    event: String,
    data: Vec<String>,
}

impl SseParser {
    fn push(&mut self, chunk: &str) -> Vec<SseMessage> {
        self.buffer.push_str(chunk);
        let mut out = Vec::new();
        while let Some(end) = self.buffer.find('\n') {
            let line: String = self.buffer.drain(..=end).collect();
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() {
                    let event = if self.event.is_empty() { "message".into() } else { std::mem::take(&mut self.event) };
                    out.push(SseMessage { event, data: std::mem::take(&mut self.data).join("\n") });
                }
                self.event.clear();
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => self.event = value.to_string(),
                "data" => self.data.push(value.to_string()),
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_for_loopback_only() {
        let actor = || "test".to_string();
        assert!(AdminClient::new("http://127.0.0.1:8401", "t", None, actor()).is_ok());
        assert!(AdminClient::new("http://localhost:8401/", "t", None, actor()).is_ok());
        assert!(AdminClient::new("http://[::1]:8401", "t", None, actor()).is_ok());
        let remote = AdminClient::new("http://10.0.0.5:8401", "t", None, actor()).err().unwrap();
        assert!(remote.contains("https://"), "{remote}");
        assert!(AdminClient::new("https://10.0.0.5:8401", "t", None, actor()).is_ok());
        assert!(AdminClient::new("https://10.0.0.5:8401/api", "t", None, actor()).is_err(), "no path");
        assert!(AdminClient::new("ftp://10.0.0.5", "t", None, actor()).is_err());
        assert!(AdminClient::new("https://10.0.0.5:8401", " ", None, actor()).is_err(), "a token is needed");
    }

    #[test]
    fn server_sent_events_are_read_across_chunks() {
        let mut p = SseParser::default();
        assert!(p.push("event: gateway\ndata: {\"a\"").is_empty());
        let out = p.push(":1}\n\n: keep-alive\n\nevent: dropped\r\ndata: {\"missed\":3}\r\n\r\n");
        assert_eq!(
            out,
            vec![
                SseMessage { event: "gateway".into(), data: "{\"a\":1}".into() },
                SseMessage { event: "dropped".into(), data: "{\"missed\":3}".into() },
            ]
        );
    }
}
