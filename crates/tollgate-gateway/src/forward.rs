//! Passing a request to the upstream and its answer back, streaming both bodies, with the
//! headers RFC 9110 says a proxy must not forward removed and the client's API key withheld.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming, SizeHint};
use tollgate_core::store::keys::PresentedKey;

use crate::request_body::RequestBody;
use crate::upstream::{Outgoing, PooledBody, header_safe, hop_by_hop, list_elements};
use crate::{Body, names};

/// The header carrying the key when it is not in `Authorization`.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Whether a client's header goes on to the upstream. Not: the headers that describe one
/// connection (RFC 9110 §7.6.1) and those its `Connection` header names (`named`); the
/// body's framing (the upstream request says its own); `Host` and the headers the gateway
/// sets itself (the upstream must not be told a client's word for them); and the customer's
/// credentials, whatever their bytes: every `X-API-Key`, every `Authorization` in the
/// `Bearer` or `Payment` scheme, payment headers. Other `Authorization` schemes (Basic) are
/// for the upstream and go.
fn passes(name: &HeaderName, value: &HeaderValue, named: &[&[u8]]) -> bool {
    let dropped = hop_by_hop(name.as_str().as_bytes())
        || matches!(
            name.as_str(),
            "content-length"
                | "host"
                | "x-request-id"
                | "x-tollgate-tenant"
                | "x-tollgate-plan"
                | "x-forwarded-for"
                | API_KEY_HEADER
                | "payment-signature"
                | "payment-authorization"
        );
    let credential = name == header::AUTHORIZATION && (is_bearer(value.as_bytes()) || is_payment(value.as_bytes()));
    !dropped && !credential && !named.iter().any(|n| n.eq_ignore_ascii_case(name.as_str().as_bytes()))
}

/// The header names a request's `Connection` header lists (hop-by-hop, RFC 9110 §7.6.1).
fn connection_named(headers: &HeaderMap) -> Vec<&[u8]> {
    headers.get_all(header::CONNECTION).iter().flat_map(|v| list_elements(v.as_bytes())).collect()
}

/// The longest value taken for a key; anything longer is [`PresentedKey::Malformed`].
const MAX_KEY_LEN: usize = 512;

/// True for an `Authorization` value in the `Bearer` scheme (any case, RFC 9110 §11.1):
/// the customer's key, for Tollgate and never for the upstream.
fn is_bearer(value: &[u8]) -> bool {
    let v = value.trim_ascii_start();
    v.len() >= 6 && v[..6].eq_ignore_ascii_case(b"bearer") && v.get(6).is_none_or(|b| matches!(b, b' ' | b'\t'))
}

/// True for an `Authorization` value in the draft `Payment` scheme: a payment credential.
fn is_payment(value: &[u8]) -> bool {
    let v = value.trim_ascii_start();
    v.len() >= 7 && v[..7].eq_ignore_ascii_case(b"payment") && v.get(7).is_none_or(|b| matches!(b, b' ' | b'\t'))
}

/// What one header value offers as a key: nothing (empty), a key of visible ASCII, or
/// something else.
fn classify(token: &[u8]) -> PresentedKey<'_> {
    let token = token.trim_ascii();
    if token.is_empty() {
        PresentedKey::Absent
    } else if token.len() > MAX_KEY_LEN || !token.iter().all(u8::is_ascii_graphic) {
        PresentedKey::Malformed
    } else {
        std::str::from_utf8(token).map_or(PresentedKey::Malformed, PresentedKey::Key)
    }
}

/// The one value among `values`, or `Malformed` when there are several.
fn only<'a>(mut values: impl Iterator<Item = &'a [u8]>) -> Option<Result<&'a [u8], ()>> {
    let first = values.next()?;
    Some(if values.next().is_some() { Err(()) } else { Ok(first) })
}

/// The API key a request presents: `Authorization: Bearer …`, else `X-API-Key`, whatever
/// their bytes. A key that is not visible ASCII, or two candidates in one place, is
/// `Malformed` (401 `INVALID_API_KEY`), never `Absent`. None of the headers this reads
/// [`passes`] to the upstream.
pub fn presented_key(headers: &HeaderMap) -> PresentedKey<'_> {
    let bearer =
        only(headers.get_all(header::AUTHORIZATION).iter().map(HeaderValue::as_bytes).filter(|v| is_bearer(v)));
    let from_bearer = match bearer {
        Some(Ok(v)) => classify(&v.trim_ascii_start()[6..]),
        Some(Err(())) => PresentedKey::Malformed,
        None => PresentedKey::Absent,
    };
    if from_bearer != PresentedKey::Absent {
        return from_bearer;
    }
    match only(headers.get_all(API_KEY_HEADER).iter().map(HeaderValue::as_bytes)) {
        Some(Ok(v)) => classify(v),
        Some(Err(())) => PresentedKey::Malformed,
        None => PresentedKey::Absent,
    }
}

/// Who the upstream is told about.
pub struct Caller<'a> {
    pub request_id: &'a str,
    pub tenant: &'a str,
    pub plan: &'a str,
    /// The client's address, as text.
    pub client_ip: &'a str,
}

/// Where a route's upstream is, from its URL: whether it speaks TLS, the authority
/// (`host[:port]`, the pool's key and the `Host` the upstream is told) and the base path
/// requests go under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamBase<'a> {
    pub tls: bool,
    pub authority: &'a str,
    pub path: &'a str,
}

impl<'a> UpstreamBase<'a> {
    /// Splits `http://host:port/base` or `https://…`; `None` for anything else (routes only
    /// take such URLs, see `routes.rs`).
    pub fn parse(url: &'a str) -> Option<Self> {
        let scheme = |s: &str| url.get(..s.len()).is_some_and(|p| p.eq_ignore_ascii_case(s));
        let (tls, rest) = if scheme("http://") {
            (false, &url[7..])
        } else if scheme("https://") {
            (true, &url[8..])
        } else {
            return None;
        };
        let (authority, path) = rest.find(['/', '?', '#']).map_or((rest, ""), |i| rest.split_at(i));
        let path = path.split(['?', '#']).next().unwrap_or("");
        (!authority.is_empty() && !authority.contains('@')).then_some(Self { tls, authority, path })
    }
}

/// The client's request body on its way upstream. It remembers whether reading it
/// failed (malformed chunked framing, a client that hung up mid-body), so that failure is
/// answered as the client's (400) and not as the upstream's (502).
pub struct ClientBody {
    /// What was read ahead of forwarding (a metered route's request, to price it).
    prefix: Option<Bytes>,
    /// The rest, still arriving; `None` once read whole.
    inner: Option<Incoming>,
    failed: Arc<AtomicBool>,
}

/// Tells whether the [`ClientBody`] it came with failed to read.
pub struct BodyRead(Arc<AtomicBool>);

impl BodyRead {
    /// True once reading the client's body has failed.
    pub fn failed(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

impl ClientBody {
    pub(crate) fn new(inbound: Inbound) -> (Self, BodyRead) {
        let failed = Arc::new(AtomicBool::new(false));
        let body =
            Self { prefix: inbound.prefix.filter(|b| !b.is_empty()), inner: inbound.rest, failed: failed.clone() };
        (body, BodyRead(failed))
    }
}

/// A client's request body as the gateway holds it: as it arrives, or with its first part
/// (or all of it) already read.
pub struct Inbound {
    prefix: Option<Bytes>,
    rest: Option<Incoming>,
}

impl From<RequestBody> for Inbound {
    fn from(body: RequestBody) -> Self {
        match body {
            RequestBody::Empty => Self { prefix: None, rest: None },
            RequestBody::Arriving(body) => Self { prefix: None, rest: Some(body) },
        }
    }
}

impl Inbound {
    /// The body read ahead, when it was read whole (at most `limit` bytes); `None` when it
    /// is longer (its first part is kept and forwarded all the same).
    pub fn whole(&self) -> Option<&[u8]> {
        self.rest.is_none().then(|| self.prefix.as_deref().unwrap_or_default())
    }

    /// Reads `body` ahead up to `limit` bytes (a little more: whole frames). Fails when the
    /// client's body breaks.
    pub async fn read_ahead(body: RequestBody, limit: usize) -> Result<Self, hyper::Error> {
        let RequestBody::Arriving(mut body) = body else { return Ok(Self { prefix: None, rest: None }) };
        let mut kept = bytes::BytesMut::new();
        while kept.len() <= limit {
            match body.frame().await {
                None => return Ok(Self { prefix: Some(kept.freeze()), rest: None }),
                Some(frame) => {
                    if let Ok(data) = frame?.into_data() {
                        kept.extend_from_slice(&data);
                    }
                }
            }
        }
        Ok(Self { prefix: Some(kept.freeze()), rest: Some(body) })
    }
}

impl hyper::body::Body for ClientBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        if let Some(prefix) = self.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        let Some(inner) = self.inner.as_mut() else { return Poll::Ready(None) };
        let polled = Pin::new(inner).poll_frame(cx);
        if let Poll::Ready(Some(Err(_))) = &polled {
            self.failed.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none() && self.inner.as_ref().is_none_or(Incoming::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let ahead = self.prefix.as_ref().map_or(0, |b| b.len() as u64);
        let rest = self.inner.as_ref().map_or_else(|| SizeHint::with_exact(0), Incoming::size_hint);
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + ahead);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + ahead);
        }
        hint
    }
}

/// The upstream request: same method and body (streamed as it arrives), the client's
/// headers that [`pass`](passes), the caller's identity in `X-Tollgate-*` (and
/// `X-Forwarded-For`), and never the API key; with `identity`, asking for an uncompressed
/// answer (usage is read from its bytes). Its head is written here, once, straight from the
/// client's. The [`BodyRead`] tells afterwards whether the client's body failed.
pub fn upstream_request(
    base: UpstreamBase<'_>,
    parts: &http::request::Parts,
    body: Inbound,
    caller: &Caller,
    identity: bool,
) -> (Outgoing, BodyRead) {
    let (body, body_read) = ClientBody::new(body);
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut out = Outgoing::new(&parts.method, base.path, path_and_query, body);
    out.add("host", &[base.authority.as_bytes()]);
    let named = connection_named(&parts.headers);
    for (name, value) in &parts.headers {
        if passes(name, value, &named) && !(identity && name == header::ACCEPT_ENCODING) {
            out.add(name.as_str(), &[value.as_bytes()]);
        }
    }
    let client_ip = caller.client_ip.as_bytes();
    match parts.headers.get(&names::X_FORWARDED_FOR).map(HeaderValue::as_bytes) {
        Some(earlier) => out.add(names::X_FORWARDED_FOR.as_str(), &[earlier, b", ", client_ip]),
        None => out.add(names::X_FORWARDED_FOR.as_str(), &[client_ip]),
    }
    for (name, value) in [
        (names::X_REQUEST_ID, caller.request_id),
        (names::X_TOLLGATE_TENANT, caller.tenant),
        (names::X_TOLLGATE_PLAN, caller.plan),
    ] {
        if header_safe(value.as_bytes()) {
            out.add(name.as_str(), &[value.as_bytes()]);
        }
    }
    if identity {
        out.add(header::ACCEPT_ENCODING.as_str(), &[b"identity"]);
    }
    (out, body_read)
}

/// The upstream's answer for the client, body streamed as it arrives.
pub fn client_response(upstream: Response<PooledBody>) -> Response<Body> {
    client_response_with(upstream, |body| body)
}

/// [`client_response`] with the body read through `wrap` (a metered call's charge).
pub(crate) fn client_response_with<B>(
    upstream: Response<PooledBody>,
    wrap: impl FnOnce(PooledBody) -> B,
) -> Response<Body>
where
    B: hyper::body::Body<Data = Bytes> + Send + Sync + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    // Its hop-by-hop headers stayed behind when its head was read (`upstream::wire`).
    let (parts, body) = upstream.into_parts();
    Response::from_parts(parts, wrap(body).map_err(Into::into).boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What of `headers` passes to the upstream, as the upstream request writes it.
    fn strip(headers: &mut HeaderMap) {
        let named: Vec<Vec<u8>> = connection_named(headers).into_iter().map(<[u8]>::to_vec).collect();
        let named: Vec<&[u8]> = named.iter().map(Vec::as_slice).collect();
        let kept: Vec<(HeaderName, HeaderValue)> = headers
            .iter()
            .filter(|(name, value)| passes(name, value, &named))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        headers.clear();
        for (name, value) in kept {
            headers.append(name, value);
        }
    }

    #[test]
    fn keys_come_from_bearer_or_x_api_key() {
        use PresentedKey::{Absent, Key, Malformed};
        let mut h = HeaderMap::new();
        assert_eq!(presented_key(&h), Absent, "no key");
        h.insert(API_KEY_HEADER, "tg_live_x".parse().unwrap());
        assert_eq!(presented_key(&h), Key("tg_live_x"), "X-API-Key");
        h.insert(header::AUTHORIZATION, "Bearer tg_live_y".parse().unwrap());
        assert_eq!(presented_key(&h), Key("tg_live_y"), "Bearer wins");
        h.insert(header::AUTHORIZATION, "BEARER  tg_live_z ".parse().unwrap());
        assert_eq!(presented_key(&h), Key("tg_live_z"), "the scheme is case-insensitive");
        h.insert(header::AUTHORIZATION, "Basic dXNlcjpwdw==".parse().unwrap());
        assert_eq!(presented_key(&h), Key("tg_live_x"), "Basic auth is for the upstream, not a key");
        h.insert(header::AUTHORIZATION, HeaderValue::from_bytes(b"Bearer tg_live_\xff").unwrap());
        assert_eq!(presented_key(&h), Malformed, "a key that is not ASCII is invalid, not missing");
        h.remove(header::AUTHORIZATION);
        h.append(API_KEY_HEADER, "tg_live_other".parse().unwrap());
        assert_eq!(presented_key(&h), Malformed, "two keys are not one key");
    }

    #[test]
    fn payments_never_reach_the_upstream() {
        let mut h = HeaderMap::new();
        h.insert("payment-signature", "eyJ4".parse().unwrap());
        h.insert("payment-authorization", "Payment eyJj".parse().unwrap());
        h.append(header::AUTHORIZATION, "Payment eyJj".parse().unwrap());
        h.append(header::AUTHORIZATION, "Basic dXNlcjpwdw==".parse().unwrap());
        strip(&mut h);
        let left: Vec<_> = h.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect();
        assert_eq!(left, [("authorization", &b"Basic dXNlcjpwdw=="[..])]);
    }

    #[test]
    fn credentials_go_whatever_their_bytes_and_basic_auth_stays() {
        let mut h = HeaderMap::new();
        h.append(header::AUTHORIZATION, HeaderValue::from_bytes(b"Bearer tg_live_\xffsecret").unwrap());
        h.append(header::AUTHORIZATION, "Basic dXNlcjpwdw==".parse().unwrap());
        h.insert(API_KEY_HEADER, HeaderValue::from_bytes(b"tg_live_\x80secret").unwrap());
        strip(&mut h);
        let left: Vec<_> = h.iter().map(|(k, v)| (k.as_str(), v.as_bytes())).collect();
        assert_eq!(left, [("authorization", &b"Basic dXNlcjpwdw=="[..])], "only the upstream's credential is left");
    }

    proptest::proptest! {
        /// Any bytes a header can carry: extraction never panics, a key it returns is
        /// visible ASCII, and after stripping nothing is left that it would read.
        #[test]
        fn extraction_agrees_with_stripping(
            values in proptest::collection::vec(
                (0..3usize, proptest::collection::vec(proptest::prelude::any::<u8>(), 0..24), 0..4usize),
                0..4,
            ),
        ) {
            let mut h = HeaderMap::new();
            for (which, bytes, scheme) in values {
                let prefix: &[u8] = [&b"Bearer "[..], b"bearer\t", b"Basic ", b""][scheme];
                let Ok(v) = HeaderValue::from_bytes(&[prefix, &bytes].concat()) else { continue };
                let name = [header::AUTHORIZATION, HeaderName::from_static(API_KEY_HEADER), header::ACCEPT][which].clone();
                h.append(name, v);
            }
            if let PresentedKey::Key(k) = presented_key(&h) {
                proptest::prop_assert!(!k.is_empty() && k.bytes().all(|b| b.is_ascii_graphic()), "{k:?}");
            }
            let before = h.clone();
            strip(&mut h);
            proptest::prop_assert_eq!(presented_key(&h), PresentedKey::Absent, "stripped: {:?}", h);
            proptest::prop_assert!(!h.contains_key(API_KEY_HEADER));
            // Compared as sorted lists: removing a header may reorder the map's other names.
            let others = |m: &HeaderMap| {
                let mut kept = m
                    .iter()
                    .filter(|(k, v)| *k != header::AUTHORIZATION || !is_bearer(v.as_bytes()))
                    .filter(|(k, _)| k.as_str() != API_KEY_HEADER)
                    .map(|(k, v)| (k.as_str().to_string(), v.as_bytes().to_vec()))
                    .collect::<Vec<_>>();
                kept.sort();
                kept
            };
            proptest::prop_assert_eq!(others(&before), others(&h), "everything else stays");
        }
    }

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_names_go() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, "close, x-secret-hop".parse().unwrap());
        h.insert("x-secret-hop", "1".parse().unwrap());
        h.insert(header::TRANSFER_ENCODING, "chunked".parse().unwrap());
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        // The gateway says these itself: a client's word for them never reaches the upstream.
        for name in
            ["host", "content-length", "x-request-id", "x-tollgate-tenant", "x-tollgate-plan", "x-forwarded-for"]
        {
            h.insert(name, "spoofed".parse().unwrap());
        }
        strip(&mut h);
        assert_eq!(h.len(), 1, "only end-to-end headers stay: {h:?}");
        assert!(h.contains_key(header::CONTENT_TYPE), "content-type is end-to-end");
    }

    #[test]
    fn upstream_urls_split_into_scheme_authority_and_base_path() {
        let base = UpstreamBase::parse("http://127.0.0.1:9000/").unwrap();
        assert_eq!(base, UpstreamBase { tls: false, authority: "127.0.0.1:9000", path: "/" });
        let tls = UpstreamBase::parse("HTTPS://api.example.com/v2?x").unwrap();
        assert_eq!(tls, UpstreamBase { tls: true, authority: "api.example.com", path: "/v2" });
        let base = UpstreamBase::parse("HTTP://up/api").unwrap();
        assert_eq!((base.authority, base.path), ("up", "/api"), "base path kept");
        assert_eq!(UpstreamBase::parse("http://[::1]:8080").unwrap().authority, "[::1]:8080", "IPv6");
        assert_eq!(UpstreamBase::parse("http://up?x=1").unwrap().path, "", "a query on the base is not a path");
        assert_eq!(UpstreamBase::parse("ftp://up"), None, "neither http nor https");
        assert_eq!(UpstreamBase::parse("http://"), None, "no host");
        assert_eq!(UpstreamBase::parse("http://u:p@up"), None, "no credentials in the URL");
    }
}
