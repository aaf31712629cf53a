//! An upstream answer's body, decoded from its connection as the client reads it: a length,
//! chunks, or everything until the upstream closes. Read to its end, it gives the
//! connection back to the pool; dropped before, the connection goes with it (its unread
//! bytes would be the next answer's start).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncRead, ReadBuf};

use super::wire::Framing;
use super::{Conn, Upstreams};

/// The longest chunk-size or trailer line taken.
const MAX_LINE: usize = 4096;
/// How much is read from the connection at a time.
const READ_SIZE: usize = 16 * 1024;

/// Where the decoding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// This many bytes of a length-framed body are left.
    Length(u64),
    /// A chunk-size line is next.
    ChunkSize,
    /// This many bytes of the current chunk are left.
    ChunkData(u64),
    /// The CRLF after a chunk's data is next.
    ChunkEnd,
    /// Trailer lines (dropped) until an empty one.
    Trailers,
    /// Everything until the connection closes.
    UntilClose,
    /// Whole.
    Done,
}

/// An upstream answer's body. Reading it reads its connection.
pub struct PooledBody {
    conn: Option<Conn>,
    state: State,
    reusable: bool,
    pool: Arc<Upstreams>,
}

fn broken(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl PooledBody {
    pub(super) fn new(conn: Conn, framing: Framing, reusable: bool, pool: Arc<Upstreams>) -> Self {
        let state = match framing {
            Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::ChunkSize,
            Framing::UntilClose => State::UntilClose,
        };
        let mut body = Self { conn: Some(conn), state, reusable, pool };
        if state == State::Done {
            body.release();
        }
        body
    }

    /// Gives the connection back when it can carry another request: the upstream did not
    /// say otherwise and sent nothing past the body.
    fn release(&mut self) {
        if let Some(conn) = self.conn.take()
            && self.reusable
            && conn.buf.is_empty()
        {
            self.pool.put_idle(conn);
        }
    }

    /// Reads more of the connection into its buffer; `false` at the end of the stream.
    fn poll_read_more(conn: &mut Conn, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        conn.buf.reserve(READ_SIZE);
        let spare = conn.buf.spare_capacity_mut();
        let start = spare.as_ptr();
        let mut read = ReadBuf::uninit(spare);
        ready!(Pin::new(&mut conn.io).poll_read(cx, &mut read))?;
        let n = read.filled().len();
        // As tokio-util's `poll_read_buf`: a reader that swapped the buffer filled another one.
        assert_eq!(read.filled().as_ptr(), start.cast(), "the reader filled the buffer it was given");
        // SAFETY: `poll_read` initialised the first `n` bytes of the spare capacity (the same
        // memory, checked above).
        unsafe { conn.buf.set_len(conn.buf.len() + n) };
        Poll::Ready(Ok(n > 0))
    }

    /// One step of decoding: a frame, the end, or `None` to go on.
    fn step(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Option<Bytes>>>> {
        let Some(conn) = self.conn.as_mut() else {
            return Poll::Ready(Some(Ok(None)));
        };
        // Takes up to `left` bytes of data already read.
        let take = |conn: &mut Conn, left: u64| {
            let n = usize::try_from(left).unwrap_or(usize::MAX).min(conn.buf.len());
            conn.buf.split_to(n).freeze()
        };
        let line_end = matches!(self.state, State::ChunkSize | State::Trailers).then(|| find_crlf(&conn.buf)).flatten();
        match self.state {
            State::Done => Poll::Ready(Some(Ok(None))),
            State::Length(left) | State::ChunkData(left) if !conn.buf.is_empty() => {
                let data = take(conn, left);
                let left = left - data.len() as u64;
                self.state = match (self.state, left) {
                    (State::Length(_), 0) => State::Done,
                    (State::Length(_), left) => State::Length(left),
                    (_, 0) => State::ChunkEnd,
                    (_, left) => State::ChunkData(left),
                };
                Poll::Ready(Some(Ok(Some(data))))
            }
            State::UntilClose if !conn.buf.is_empty() => {
                let data = take(conn, u64::MAX);
                Poll::Ready(Some(Ok(Some(data))))
            }
            State::ChunkEnd if conn.buf.len() >= 2 => {
                if &conn.buf[..2] != b"\r\n" {
                    return Poll::Ready(Some(Err(broken("a chunk of the upstream's answer does not end in CRLF"))));
                }
                conn.buf.advance(2);
                self.state = State::ChunkSize;
                Poll::Ready(None)
            }
            // A line (whole or still coming) longer than any this takes.
            State::ChunkSize | State::Trailers if line_end.unwrap_or(conn.buf.len()) > MAX_LINE => {
                Poll::Ready(Some(Err(broken("a chunk line of the upstream's answer is too long"))))
            }
            State::ChunkSize | State::Trailers if line_end.is_some() => {
                let end = line_end.unwrap_or_default();
                let line = &conn.buf[..end];
                if self.state == State::ChunkSize {
                    let Some(size) = chunk_size(line) else {
                        return Poll::Ready(Some(Err(broken("invalid chunk size in the upstream's answer"))));
                    };
                    self.state = if size == 0 { State::Trailers } else { State::ChunkData(size) };
                } else if line.is_empty() {
                    self.state = State::Done;
                }
                conn.buf.advance(end + 2);
                Poll::Ready(None)
            }
            // More is needed.
            _ => match ready!(Self::poll_read_more(conn, cx)) {
                Ok(true) => Poll::Ready(None),
                Ok(false) if self.state == State::UntilClose => {
                    self.state = State::Done;
                    Poll::Ready(Some(Ok(None)))
                }
                Ok(false) => Poll::Ready(Some(Err(broken("the upstream closed the connection mid-answer")))),
                Err(e) => Poll::Ready(Some(Err(e))),
            },
        }
    }
}

/// Where the first CRLF in `buf` starts.
fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

/// A chunk-size line's size (hex digits, then optional spaces and `;` extensions, which are
/// ignored; RFC 9112 §7.1). Nothing else, no control character, no size past 2^60.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let (size, rest) = line.split_at(digits);
    let rest = rest.trim_ascii_start();
    let extensions_ok =
        rest.is_empty() || (rest[0] == b';' && rest.iter().all(|b| *b == b'\t' || (0x20..0x7f).contains(b)));
    let significant = &size[size.iter().take_while(|b| **b == b'0').count()..];
    if digits == 0 || significant.len() > 15 || !extensions_ok {
        return None;
    }
    if significant.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(significant).ok()?, 16).ok()
}

impl hyper::body::Body for PooledBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        let this = &mut *self;
        loop {
            match ready!(this.step(cx)) {
                None => continue,
                Some(Ok(Some(data))) => {
                    if this.state == State::Done {
                        this.release();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Ok(None)) => {
                    this.release();
                    return Poll::Ready(None);
                }
                Some(Err(e)) => {
                    this.conn = None;
                    this.state = State::Done;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state == State::Done
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            State::Length(n) => SizeHint::with_exact(n),
            State::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::chunk_size;

    #[test]
    fn chunk_sizes_are_hex_with_extensions_ignored() {
        assert_eq!(chunk_size(b"1a"), Some(26));
        assert_eq!(chunk_size(b"0;name=value"), Some(0));
        assert_eq!(chunk_size(b"FF "), Some(255));
        assert_eq!(chunk_size(b"0000000000000000001"), Some(1), "leading zeros are not a size");
        for bad in [&b""[..], b"g", b";x", b"1234567890abcdef0", b"+1", b" 1", b"2;\nxx", b"1 x"] {
            assert_eq!(chunk_size(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
