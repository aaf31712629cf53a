//! An answer written by the listener's own HTTP/1.1 path: the head in the connection's
//! write buffer, then the body as it comes, framed by its length (given, or known from the
//! body) or chunked, and written in one `write` whenever the body has nothing more ready.

use std::cell::RefCell;
use std::io::Write as _;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Buf, BytesMut};
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use http::{Response, StatusCode};
use hyper::body::Body;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::upstream::{agreed_length, itoa, list_elements};

/// Written out once this much is buffered, ready or not.
const WRITE_AT: usize = 64 << 10;

/// How the body is delimited on the wire.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body is sent (`HEAD`, 1xx, 204, 304).
    Bodiless,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked (the length is not known).
    Chunked,
}

/// Writes `response` (to a `HEAD` request when `head`) on `stream` through `out`; `close`
/// adds `Connection: close`. While the body is awaited, what the client sends is read
/// into `ahead`, and its leaving ends the answer. True when the connection can take
/// another request: nothing failed, the body was whole, and neither side asked for the
/// connection to end.
pub(super) async fn write<B>(
    stream: &mut TcpStream,
    ahead: &mut BytesMut,
    out: &mut Vec<u8>,
    response: Response<B>,
    head: bool,
    mut close: bool,
) -> bool
where
    B: Body,
{
    let (parts, body) = response.into_parts();
    let status = parts.status;
    // The length the answer states (over one line or several, as the upstream's reader
    // takes them); written back as one line.
    let mut given = None;
    for value in parts.headers.get_all(CONTENT_LENGTH) {
        match agreed_length(given, value.as_bytes()) {
            Some(length) => given = Some(length),
            None => return false, // a length that is not one: nothing can be framed by it
        }
    }
    let exact = body.size_hint().exact();
    let framing = if head || status.is_informational() || matches!(status.as_u16(), 204 | 304) {
        Framing::Bodiless
    } else {
        given.or(exact).map_or(Framing::Chunked, Framing::Length)
    };
    // `Connection` is the listener's to say: closing is announced, whatever else was there.
    close |= parts
        .headers
        .get_all(CONNECTION)
        .iter()
        .any(|v| list_elements(v.as_bytes()).any(|t| t.eq_ignore_ascii_case(b"close")));
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &parts.headers {
        if name == TRANSFER_ENCODING || name == CONTENT_LENGTH || name == CONNECTION {
            continue; // the framing and the connection are ours to say, below
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let length = match framing {
        Framing::Length(length) => Some(length),
        // A HEAD's answer says the length its GET would have, a 304 what it was given; a
        // 1xx or 204 says none (RFC 9110 §8.6).
        Framing::Bodiless if head => given.or(exact.filter(|n| *n > 0)),
        Framing::Bodiless if status == StatusCode::NOT_MODIFIED => given,
        Framing::Bodiless => None,
        Framing::Chunked => {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
            None
        }
    };
    if let Some(length) = length {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa(length, &mut [0; 20]));
        out.extend_from_slice(b"\r\n");
    }
    if !parts.headers.contains_key(DATE) {
        out.extend_from_slice(b"date: ");
        date(out);
        out.extend_from_slice(b"\r\n");
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if framing == Framing::Bodiless {
        return stream.write_all(out).await.is_ok() && !close;
    }
    let whole = send_body(stream, ahead, out, body, framing).await;
    whole && stream.write_all(out).await.is_ok() && !close
}

/// Appends the body to `out`, writing it out whenever the body has nothing ready or `out`
/// is full; leaves the end in `out`. False when the body failed, its length was not the
/// one announced (the connection must then end: the client cannot tell where it stops),
/// or the client left.
async fn send_body<B: Body>(
    stream: &mut TcpStream,
    ahead: &mut BytesMut,
    out: &mut Vec<u8>,
    body: B,
    framing: Framing,
) -> bool {
    let mut body = pin!(body);
    let mut sent = 0u64;
    loop {
        if body.is_end_stream() {
            break;
        }
        // What is ready now joins the buffer; only when nothing is, the buffer goes out
        // and the body is awaited.
        let polled = body.as_mut().poll_frame(&mut Context::from_waker(Waker::noop()));
        let frame = match polled {
            Poll::Ready(frame) => frame,
            Poll::Pending => {
                if !out.is_empty() && stream.write_all(out).await.is_err() {
                    return false;
                }
                out.clear();
                loop {
                    tokio::select! {
                        biased;
                        frame = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)) => break frame,
                        // Only while nothing pipelined waits, as hyper: a client that sent its
                        // requests and closed its side still gets the answers before them.
                        more = super::read_more(stream, ahead), if ahead.is_empty() => {
                            if !more {
                                return false; // the client left: the body is dropped unread
                            }
                        }
                    }
                }
            }
        };
        let mut data = match frame {
            None => break,
            // What came before the failure still goes out; the connection then ends.
            Some(Err(_)) => {
                let _ = stream.write_all(out).await;
                return false;
            }
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue, // trailers: not sent over HTTP/1.1
            },
        };
        let size = data.remaining() as u64;
        if size == 0 {
            continue;
        }
        match framing {
            Framing::Length(length) if sent + size > length => return false,
            Framing::Chunked => {
                let _ = write!(out, "{size:x}\r\n");
            }
            _ => {}
        }
        while data.has_remaining() {
            let chunk = data.chunk();
            out.extend_from_slice(chunk);
            let n = chunk.len();
            data.advance(n);
        }
        sent += size;
        if framing == Framing::Chunked {
            out.extend_from_slice(b"\r\n");
        }
        if out.len() >= WRITE_AT {
            if stream.write_all(out).await.is_err() {
                return false;
            }
            out.clear();
        }
    }
    match framing {
        Framing::Chunked => {
            out.extend_from_slice(b"0\r\n\r\n");
            true
        }
        Framing::Length(length) => sent == length,
        Framing::Bodiless => true,
    }
}

/// Today's `Date` value (RFC 9110 §5.6.7), formatted once a second per thread.
fn date(out: &mut Vec<u8>) {
    thread_local! {
        static NOW: RefCell<(u64, [u8; 29])> = const { RefCell::new((u64::MAX, [0; 29])) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    NOW.with_borrow_mut(|(at, text)| {
        if *at != second {
            let formatted = httpdate::fmt_http_date(now);
            if formatted.len() == text.len() {
                text.copy_from_slice(formatted.as_bytes());
                *at = second;
            }
        }
        out.extend_from_slice(text);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_is_an_http_date() {
        let mut out = Vec::new();
        date(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(httpdate::parse_http_date(&text).is_ok(), "{text}");
    }
}
