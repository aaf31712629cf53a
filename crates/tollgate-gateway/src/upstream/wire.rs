//! HTTP/1.1 on an upstream connection, for the gateway's one use of it (RFC 9112): a
//! request head written in one piece from the request's parts, an answer's head parsed in
//! place with `httparse`, and the framing the answer's body follows.
//!
//! The upstream is the operator's: an answer it frames in a way this does not take (a head
//! over [`MAX_HEAD`], conflicting lengths, an upgrade) is a failed exchange, answered 502,
//! never guessed at.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};

/// The longest answer head taken, and the most header lines in it.
pub const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 128;

/// How a request's body goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sending {
    /// No body and no length: a `GET` without one.
    Nothing,
    /// `Content-Length` bytes (0 for a `POST` without a body).
    Length(u64),
    /// Chunked: the length is not known ahead.
    Chunked,
}

impl Sending {
    /// How a request with `method` sends a body that is `ended` already or `exact` bytes
    /// long when known.
    pub fn of(method: &Method, ended: bool, exact: Option<u64>) -> Self {
        match (ended, exact) {
            // RFC 9110 §8.6: a request whose method defines a body says when it is empty.
            (true, _) if [Method::POST, Method::PUT, Method::PATCH].contains(method) => Self::Length(0),
            (true, _) => Self::Nothing,
            (false, Some(n)) => Self::Length(n),
            (false, None) => Self::Chunked,
        }
    }

    /// True when the head is the whole request.
    pub fn head_only(self) -> bool {
        matches!(self, Self::Nothing | Self::Length(0))
    }
}

/// Writes a request line for `base` + `path_and_query` (origin form, `/api` + `/v1/x?q=1`;
/// a base's trailing slash is not doubled, and the target starts with `/` whatever the two).
pub fn request_line(out: &mut Vec<u8>, method: &Method, base: &str, path_and_query: &str) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    let base = base.trim_end_matches('/');
    if !base.starts_with('/') && !path_and_query.starts_with('/') {
        out.push(b'/');
    }
    out.extend_from_slice(base.as_bytes());
    out.extend_from_slice(path_and_query.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
}

/// Writes one header line, its value in parts.
pub fn header_line(out: &mut Vec<u8>, name: &str, value: &[&[u8]]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    for part in value {
        out.extend_from_slice(part);
    }
    out.extend_from_slice(b"\r\n");
}

/// Ends a request head with the framing `sending` says.
pub fn end_head(out: &mut Vec<u8>, sending: Sending) {
    match sending {
        Sending::Nothing => {}
        Sending::Length(n) => header_line(out, "content-length", &[itoa(n, &mut [0; 20])]),
        Sending::Chunked => header_line(out, "transfer-encoding", &[b"chunked"]),
    }
    out.extend_from_slice(b"\r\n");
}

/// `n` in decimal, written at the end of `buf`.
pub fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// How an answer's body is framed (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length` bytes (0 for a `HEAD`, a 204 or a 304).
    Length(u64),
    /// Chunked.
    Chunked,
    /// Until the upstream closes the connection.
    UntilClose,
}

/// An answer's head, ready for the client.
#[derive(Debug)]
pub struct AnswerHead {
    pub status: StatusCode,
    /// The end-to-end headers: the hop-by-hop ones (and those `Connection` names) are gone.
    pub headers: HeaderMap,
    pub framing: Framing,
    /// Whether the connection may carry another request once the body is read.
    pub reusable: bool,
}

/// What the bytes read so far hold.
#[derive(Debug)]
pub enum Parsed {
    /// Not a whole head yet.
    Partial,
    /// An interim (1xx) answer of this many bytes, to skip: the final one follows.
    Interim(usize),
    /// A final answer's head of this many bytes.
    Final(usize, AnswerHead),
}

/// Why an answer cannot be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    #[error("the upstream's answer head is not HTTP/1.1: {0}")]
    Syntax(&'static str),
    #[error("the upstream's answer head is longer than 64 KiB")]
    TooLong,
    #[error("the upstream's answer has an invalid or conflicting Content-Length")]
    Length,
    #[error("the upstream switched protocols, which the gateway never asks for")]
    Upgrade,
}

/// The elements of a comma-separated header value (`Connection`, `Transfer-Encoding`),
/// trimmed, empty ones skipped (RFC 9110 §5.6.1).
pub fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|b| *b == b',').map(<[u8]>::trim_ascii).filter(|e| !e.is_empty())
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1): never passed
/// on, in either direction.
pub fn hop_by_hop(name: &[u8]) -> bool {
    const NAMES: [&[u8]; 8] = [
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    ];
    NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// Parses the answer head at the start of `buf`, to a request that was a `HEAD` or not.
pub fn answer_head(buf: &[u8], to_head: bool) -> Result<Parsed, Malformed> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut answer = httparse::Response::new(&mut slots);
    let len = match answer.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Err(Malformed::TooLong),
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(Malformed::TooLong),
        Err(httparse::Error::Version) => return Err(Malformed::Syntax("not HTTP/1.x")),
        Err(httparse::Error::Status) => return Err(Malformed::Syntax("invalid status")),
        Err(httparse::Error::HeaderName) => return Err(Malformed::Syntax("invalid header name")),
        Err(httparse::Error::HeaderValue) => return Err(Malformed::Syntax("invalid header value")),
        Err(_) => return Err(Malformed::Syntax("invalid line")),
    };
    if len > MAX_HEAD {
        return Err(Malformed::TooLong);
    }
    let code = answer.code.unwrap_or(0);
    let status = StatusCode::from_u16(code).map_err(|_| Malformed::Syntax("invalid status code"))?;
    if code == 101 {
        return Err(Malformed::Upgrade);
    }
    if status.is_informational() {
        return Ok(Parsed::Interim(len));
    }
    let mut reusable = answer.version == Some(1);
    let mut close_named: Vec<&[u8]> = Vec::new();
    let (mut chunked, mut coded, mut length): (bool, bool, Option<u64>) = (false, false, None);
    for h in answer.headers.iter() {
        if h.name.eq_ignore_ascii_case("connection") {
            for token in list_elements(h.value) {
                if token.eq_ignore_ascii_case(b"close") {
                    reusable = false;
                }
                close_named.push(token);
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // The codings of every line in order: chunked must be the final one, and only
            // once; without it the body runs until the connection closes (RFC 9112 §6.3).
            for coding in list_elements(h.value) {
                if chunked {
                    return Err(Malformed::Syntax("a coding after chunked"));
                }
                coded = true;
                chunked = coding.eq_ignore_ascii_case(b"chunked");
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            length = Some(agreed_length(length, h.value).ok_or(Malformed::Length)?);
        }
    }
    let bodiless = to_head || code == 204 || code == 304;
    let framing = if bodiless {
        Framing::Length(0)
    } else if coded {
        // Both a coding and a length: the coding wins, and the connection is not trusted
        // with another request (RFC 9112 §6.3, item 3).
        if length.is_some() {
            reusable = false;
        }
        if chunked { Framing::Chunked } else { Framing::UntilClose }
    } else {
        length.map_or(Framing::UntilClose, Framing::Length)
    };
    if framing == Framing::UntilClose {
        reusable = false;
    }
    // Room for the two the gateway adds (`X-Request-Id`, `X-Credits-Remaining`): growing
    // the map to fit them was two allocations and a rehash on every answer.
    let mut headers = HeaderMap::with_capacity(answer.headers.len() + 2);
    for h in answer.headers.iter() {
        let name = h.name.as_bytes();
        if hop_by_hop(name) || close_named.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            continue;
        }
        // The length goes on as one line, below; a coded body goes on re-framed, without it.
        if name.eq_ignore_ascii_case(b"content-length") {
            continue;
        }
        let name = HeaderName::from_bytes(name).map_err(|_| Malformed::Syntax("invalid header name"))?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| Malformed::Syntax("invalid header value"))?;
        headers.append(name, value);
    }
    if let (Some(length), false) = (length, coded) {
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    Ok(Parsed::Final(len, AnswerHead { status, headers, framing, reusable }))
}

/// The length a `Content-Length` line gives, taken with what earlier lines gave
/// (`earlier`): digits only (RFC 9110 §8.6), or several equal ones, listed or on several
/// lines; `None` when they disagree or one is not a length.
pub fn agreed_length(earlier: Option<u64>, value: &[u8]) -> Option<u64> {
    let mut found = earlier;
    for part in value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
        if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = std::str::from_utf8(part).ok()?.parse().ok()?;
        if found.is_some_and(|f| f != n) {
            return None;
        }
        found = Some(n);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(bytes: &[u8]) -> AnswerHead {
        match answer_head(bytes, false) {
            Ok(Parsed::Final(len, head)) => {
                assert_eq!(len, bytes.len(), "the head is all of it");
                head
            }
            other => panic!("not a final head: {other:?}"),
        }
    }

    #[test]
    fn requests_say_their_length_once() {
        let mut out = Vec::new();
        request_line(&mut out, &Method::POST, "/api/", "/v1/x?q=1");
        header_line(&mut out, "host", &[b"up:9000"]);
        header_line(&mut out, "x-forwarded-for", &[b"10.0.0.1", b", ", b"127.0.0.1"]);
        end_head(&mut out, Sending::Length(12_345));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /api/v1/x?q=1 HTTP/1.1\r\nhost: up:9000\r\nx-forwarded-for: 10.0.0.1, 127.0.0.1\r\ncontent-length: 12345\r\n\r\n"
        );
        let mut out = Vec::new();
        request_line(&mut out, &Method::GET, "", "/");
        end_head(&mut out, Sending::Nothing);
        assert_eq!(out, b"GET / HTTP/1.1\r\n\r\n");
        let mut out = Vec::new();
        request_line(&mut out, &Method::GET, "", "?q=1");
        assert_eq!(out, b"GET /?q=1 HTTP/1.1\r\n", "an origin-form target starts with a slash");
        let mut out = Vec::new();
        request_line(&mut out, &Method::PUT, "/", "/");
        end_head(&mut out, Sending::Chunked);
        assert_eq!(out, b"PUT / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n");
        assert_eq!(itoa(0, &mut [0; 20]), b"0");
        assert_eq!(itoa(u64::MAX, &mut [0; 20]), b"18446744073709551615");
    }

    #[test]
    fn a_body_is_framed_by_what_is_known_of_it() {
        assert_eq!(Sending::of(&Method::GET, true, Some(0)), Sending::Nothing);
        assert_eq!(Sending::of(&Method::POST, true, Some(0)), Sending::Length(0));
        assert_eq!(Sending::of(&Method::POST, false, Some(7)), Sending::Length(7));
        assert_eq!(Sending::of(&Method::POST, false, None), Sending::Chunked);
        assert!(Sending::Length(0).head_only() && !Sending::Length(1).head_only());
    }

    #[test]
    fn answers_are_framed_as_rfc_9112_says() {
        let h = head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\n");
        assert_eq!((h.status, h.framing, h.reusable), (StatusCode::OK, Framing::Length(5), true));
        assert_eq!(h.headers.get("content-length").unwrap(), "5", "the length goes on");
        let h = head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n\r\n");
        assert_eq!((h.framing, h.reusable), (Framing::Chunked, false), "the coding wins over a length");
        assert!(h.headers.is_empty(), "neither goes on: {:?}", h.headers);
        let h = head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert_eq!((h.framing, h.reusable), (Framing::UntilClose, false));
        let h = head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked,\r\n\r\n");
        assert_eq!(h.framing, Framing::Chunked, "codings over several lines, empty elements ignored");
        for bad in [&b"chunked, gzip"[..], b"chunked\r\nTransfer-Encoding: chunked"] {
            let answer = [&b"HTTP/1.1 200 OK\r\nTransfer-Encoding: "[..], bad, b"\r\n\r\n"].concat();
            assert!(
                answer_head(&answer, false).is_err(),
                "chunked must be last and once: {}",
                String::from_utf8_lossy(bad)
            );
        }
        let h = head(b"HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((h.framing, h.reusable), (Framing::UntilClose, false), "no length: until close");
        let h = head(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n");
        assert!(!h.reusable, "HTTP/1.0 closes");
        let h = head(b"HTTP/1.1 204 No Content\r\n\r\n");
        assert_eq!((h.framing, h.reusable), (Framing::Length(0), true));
        let h = head(b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(h.framing, Framing::Length(5), "a repeated equal length is one length");
        let lengths: Vec<_> = h.headers.get_all("content-length").iter().collect();
        assert_eq!(lengths, ["5"], "and goes on as one");
        match answer_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true) {
            Ok(Parsed::Final(_, h)) => assert_eq!(h.framing, Framing::Length(0), "a HEAD has no body"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hop_by_hop_headers_stay_behind() {
        let h = head(
            b"HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-End: 2\r\nContent-Length: 0\r\n\r\n",
        );
        assert!(!h.reusable, "close is heard");
        let names: Vec<&str> = h.headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["x-end", "content-length"]);
    }

    #[test]
    fn interim_partial_and_malformed_heads() {
        assert!(matches!(answer_head(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1", false), Ok(Parsed::Interim(25))));
        assert!(matches!(answer_head(b"HTTP/1.1 200 OK\r\nContent-Len", false), Ok(Parsed::Partial)));
        assert_eq!(answer_head(b"HTTP/1.1 101 Switching\r\n\r\n", false).unwrap_err(), Malformed::Upgrade);
        for bad in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
        ] {
            assert_eq!(answer_head(bad, false).unwrap_err(), Malformed::Length, "{}", String::from_utf8_lossy(bad));
        }
        assert!(matches!(answer_head(b"SMTP ready\r\n\r\n", false), Err(Malformed::Syntax(_))));
        let long = [&b"HTTP/1.1 200 OK\r\nX: "[..], &vec![b'a'; MAX_HEAD + 1]].concat();
        assert_eq!(answer_head(&long, false).unwrap_err(), Malformed::TooLong);
    }
}
