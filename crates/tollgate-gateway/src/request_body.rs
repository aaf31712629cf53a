//! The client's request body as a listener hands it to the gateway: none, for a request
//! read by the listener's own HTTP/1.1 path (which takes only requests without a body), or
//! hyper's, arriving.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};

/// A request's body: [`Empty`](Self::Empty) or still [`Arriving`](Self::Arriving).
#[derive(Debug)]
pub enum RequestBody {
    /// The request has no body.
    Empty,
    /// hyper's body, as it arrives.
    Arriving(Incoming),
}

impl From<Incoming> for RequestBody {
    fn from(body: Incoming) -> Self {
        Self::Arriving(body)
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            Self::Empty => Poll::Ready(None),
            Self::Arriving(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Arriving(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty => SizeHint::with_exact(0),
            Self::Arriving(body) => body.size_hint(),
        }
    }
}
