//! One-off HTTP(S) POSTs from the node, for webhook deliveries: the same TLS as upstreams
//! (rustls, the system's trust store, always verified) and a new connection each time, as
//! deliveries are few and endpoints many.

use std::time::Duration;

use crate::forward::UpstreamBase;
use crate::tls::TrustStores;
use crate::upstream::dial;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, header};
use http_body_util::Full;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

/// Sends POSTs; keeps the system's trust store once loaded.
#[derive(Default)]
pub struct Outbound {
    trust: TrustStores,
}

impl Outbound {
    pub fn new() -> Self {
        Self::default()
    }

    /// POSTs `body` (JSON) with `headers` to `url`; the answer's status, or why there was
    /// none. Gives up after `timeout`.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: String,
        timeout: Duration,
    ) -> Result<u16, String> {
        tokio::time::timeout(timeout, self.send(url, headers, body))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {} s", timeout.as_secs())))
    }

    async fn send(&self, url: &str, headers: &[(&'static str, String)], body: String) -> Result<u16, String> {
        Ok(self.exchange(url, headers, body).await?.status().as_u16())
    }

    /// POSTs `body` (JSON) to `url` and reads the answer: its status and at most 64 KiB of
    /// its body. Gives up after `timeout`.
    pub async fn post_for_answer(&self, url: &str, body: String, timeout: Duration) -> Result<(u16, Bytes), String> {
        let answer = async {
            let response = self.exchange(url, &[], body).await?;
            let status = response.status().as_u16();
            let limited = http_body_util::Limited::new(response.into_body(), 64 << 10);
            let bytes = http_body_util::BodyExt::collect(limited).await.map_err(|e| e.to_string())?.to_bytes();
            Ok((status, bytes))
        };
        tokio::time::timeout(timeout, answer)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {} s", timeout.as_secs())))
    }

    async fn exchange(
        &self,
        url: &str,
        headers: &[(&'static str, String)],
        body: String,
    ) -> Result<http::Response<hyper::body::Incoming>, String> {
        let base = UpstreamBase::parse(url).ok_or_else(|| format!("{url:?} is not an http(s) URL"))?;
        let after = url.split_once("://").map_or("", |(_, rest)| &rest[base.authority.len()..]);
        let after = after.split('#').next().unwrap_or("");
        let target = if after.starts_with('/') { after.to_string() } else { format!("/{after}") };
        self.post_to(&base, &target, headers, body).await
    }

    async fn post_to(
        &self,
        base: &UpstreamBase<'_>,
        target: &str,
        headers: &[(&'static str, String)],
        body: String,
    ) -> Result<http::Response<hyper::body::Incoming>, String> {
        let trust = base.tls.then(|| self.trust.trust(None));
        let io = dial(base.authority, trust.as_ref()).await.map_err(|e| e.to_string())?;
        let (mut send, conn) = http1::handshake::<_, Full<Bytes>>(TokioIo::new(io)).await.map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let mut request = Request::post(target)
            .header(header::HOST, base.authority)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, concat!("Tollgate/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        for (name, value) in headers {
            let value = HeaderValue::from_str(value).map_err(|e| e.to_string())?;
            request.headers_mut().insert(HeaderName::from_static(name), value);
        }
        send.send_request(request).await.map_err(|e| e.to_string())
    }
}
