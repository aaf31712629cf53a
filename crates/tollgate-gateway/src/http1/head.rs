//! A request head read by the listener's own HTTP/1.1 path: parsed in place with
//! `httparse` and made an `http::Request` whose path and header values share the head's
//! bytes (no copy). Only plain requests are taken: HTTP/1.1, an origin-form target, not
//! `CONNECT`, no body (no `Content-Length` other than 0, no `Transfer-Encoding`), no
//! `Expect` and no `Upgrade`. Anything else, malformed heads included, is hyper's to answer.

use std::mem::MaybeUninit;

use bytes::BytesMut;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Uri, Version};

use crate::upstream::list_elements;

/// Header lines taken at most (hyper's limit too: beyond, hyper answers 431).
const MAX_HEADERS: usize = 100;

/// Names outside the standard set that come with most requests here: made from a constant
/// (`HeaderName::from_bytes` copies any name it does not know, an allocation per request).
const KNOWN: [HeaderName; 3] = [
    HeaderName::from_static(crate::forward::API_KEY_HEADER),
    crate::names::X_FORWARDED_FOR,
    crate::names::X_REQUEST_ID,
];

/// The header name `bytes` spell, in any case.
fn header_name(bytes: &[u8]) -> Option<HeaderName> {
    match KNOWN.iter().find(|known| known.as_str().as_bytes().eq_ignore_ascii_case(bytes)) {
        Some(known) => Some(known.clone()),
        None => HeaderName::from_bytes(bytes).ok(),
    }
}

/// What the buffer holds.
#[allow(
    clippy::large_enum_variant,
    reason = "made once a request and taken apart at once: a box would cost an allocation"
)]
pub(super) enum Head<B> {
    /// The start of a head, not all of it yet.
    Partial,
    /// A plain request, its head taken out of the buffer; `close` when the client asked
    /// for the connection to end after it.
    Plain { request: Request<B>, close: bool },
    /// A head for hyper; the buffer is as it was.
    Other,
}

/// Where a header's name and value lie in the buffer.
#[derive(Clone, Copy, Default)]
struct Span {
    name: (usize, usize),
    value: (usize, usize),
}

/// Reads the head at the start of `buf`: a plain request (with `body`) takes its bytes out.
pub(super) fn parse<B>(buf: &mut BytesMut, body: impl FnOnce() -> B) -> Head<B> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut []);
    let length = match parsed.parse_with_uninit_headers(buf, &mut slots) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(_) => return Head::Other,
    };
    let (Some(1), Some(method), Some(path)) = (parsed.version, parsed.method, parsed.path) else { return Head::Other };
    if !path.starts_with('/') || method == "CONNECT" {
        return Head::Other;
    }
    let Ok(method) = Method::from_bytes(method.as_bytes()) else { return Head::Other };
    let base = buf.as_ptr() as usize;
    let span = |s: &[u8]| (s.as_ptr() as usize - base, s.len());
    let path = span(path.as_bytes());
    let mut spans = [Span::default(); MAX_HEADERS];
    let mut close = false;
    for (header, slot) in parsed.headers.iter().zip(spans.iter_mut()) {
        let (name, value) = (header.name, header.value);
        if name.eq_ignore_ascii_case("content-length") {
            if value.trim_ascii() != b"0" {
                return Head::Other;
            }
        } else if ["transfer-encoding", "expect", "upgrade"].iter().any(|n| name.eq_ignore_ascii_case(n)) {
            return Head::Other;
        } else if name.eq_ignore_ascii_case("connection") {
            close |= list_elements(value).any(|token| token.eq_ignore_ascii_case(b"close"));
        }
        *slot = Span { name: span(name.as_bytes()), value: span(value) };
    }
    let count = parsed.headers.len();
    let head = buf.split_to(length).freeze();
    let slice = |(at, len): (usize, usize)| head.slice(at..at + len);
    let built = (|| {
        let uri = Uri::from_maybe_shared(slice(path)).ok()?;
        let mut headers = HeaderMap::with_capacity(count);
        for span in &spans[..count] {
            let name = header_name(&head[span.name.0..span.name.0 + span.name.1])?;
            headers.append(name, HeaderValue::from_maybe_shared(slice(span.value)).ok()?);
        }
        Some((uri, headers))
    })();
    let Some((uri, headers)) = built else {
        // Back as it was, for hyper to answer (a rare path: one copy).
        let mut whole = BytesMut::with_capacity(head.len() + buf.len());
        whole.extend_from_slice(&head);
        whole.extend_from_slice(buf);
        *buf = whole;
        return Head::Other;
    };
    let mut request = Request::new(body());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_11;
    *request.headers_mut() = headers;
    Head::Plain { request, close }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> (Head<()>, BytesMut) {
        let mut buf = BytesMut::from(text.as_bytes());
        (parse(&mut buf, || ()), buf)
    }

    #[test]
    fn a_plain_request_is_taken_and_what_follows_stays() {
        let (head, rest) = parsed(
            "GET /v1/x?a=1 HTTP/1.1\r\nHost: h\r\nX-Api-Key: k\r\nX-Forwarded-FOR: 10.0.0.1\r\nX-Custom: c\r\nConnection: keep-alive, Close\r\n\r\nGET /next",
        );
        let Head::Plain { request, close } = head else { panic!("plain") };
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.uri().path(), "/v1/x");
        assert_eq!(request.uri().query(), Some("a=1"));
        assert_eq!(request.headers()["x-api-key"], "k");
        assert_eq!(request.headers()["x-forwarded-for"], "10.0.0.1");
        assert_eq!(request.headers()["x-custom"], "c");
        assert_eq!(request.headers().len(), 5);
        assert!(close);
        assert_eq!(&rest[..], b"GET /next");
    }

    #[test]
    fn a_partial_head_waits_and_leaves_the_buffer_alone() {
        let (head, rest) = parsed("GET /v1/x HTTP/1.1\r\nHost: h\r\n");
        assert!(matches!(head, Head::Partial));
        assert_eq!(rest.len(), 29);
    }

    #[test]
    fn anything_but_a_plain_request_is_left_whole_for_hyper() {
        for text in [
            "POST /v1/x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
            "POST /v1/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "PUT /v1/x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n",
            "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            "GET /v1/x HTTP/1.0\r\nHost: h\r\n\r\n",
            "GET http://h/v1/x HTTP/1.1\r\nHost: h\r\n\r\n",
            "CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET /v1/x HTTP/1.1\r\nBad Header: x\r\n\r\n",
            "GET /v1/\x7fx HTTP/1.1\r\nHost: h\r\n\r\n",
        ] {
            let (head, rest) = parsed(text);
            assert!(matches!(head, Head::Other), "for hyper: {text:?}");
            assert_eq!(&rest[..], text.as_bytes(), "left whole: {text:?}");
        }
        let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: v\r\n")).collect();
        let text = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(parsed(&text).0, Head::Other), "over {MAX_HEADERS} header lines");
    }

    #[test]
    fn an_empty_body_announced_is_still_plain() {
        let (head, _) = parsed("POST /v1/x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
        assert!(matches!(head, Head::Plain { close: false, .. }));
    }
}
